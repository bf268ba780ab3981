"""Partitioned tasks table, outbox and side-effect tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATUSES = "'SCHEDULED','PENDING','PROCESSING','RETRYING','COMPLETED','FAILED','CANCELLED'"
ACTIVE = "'SCHEDULED','PENDING','PROCESSING','RETRYING'"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE tasks (
            id uuid NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            type text NOT NULL,
            payload jsonb NOT NULL,
            priority smallint NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 9),
            run_at timestamptz,
            max_attempts integer NOT NULL DEFAULT 4 CHECK (max_attempts >= 1),
            status text NOT NULL CHECK (status IN ({STATUSES})),
            attempts integer NOT NULL DEFAULT 0,
            lease_token uuid,
            lease_expires_at timestamptz,
            next_attempt_at timestamptz,
            result jsonb,
            last_error text,
            error_type text,
            started_at timestamptz,
            finished_at timestamptz,
            correlation_id text,
            tenant text,
            idempotency_key text,
            redrive_count integer NOT NULL DEFAULT 0,
            cancel_requested boolean NOT NULL DEFAULT false,
            PRIMARY KEY (id, created_at),
            CONSTRAINT tasks_attempts_bounded CHECK (attempts >= 0 AND attempts <= max_attempts)
        ) PARTITION BY RANGE (created_at)
        """
    )
    # The worker, reconciler and scheduler only ever look for active tasks; a partial index keeps
    # that index as small as the live work, however large the history grows.
    op.execute(
        f"CREATE INDEX tasks_active_idx ON tasks (status, updated_at) WHERE status IN ({ACTIVE})"
    )
    op.execute("CREATE INDEX tasks_payload_gin ON tasks USING gin (payload jsonb_path_ops)")
    op.execute("CREATE INDEX tasks_created_idx ON tasks (created_at DESC, id DESC)")
    # Rows whose created_at falls outside every monthly range (clock skew) land here.
    op.execute("CREATE TABLE tasks_default PARTITION OF tasks DEFAULT")
    op.execute(
        """
        DO $$
        DECLARE
            m date;
        BEGIN
            FOR i IN 0..3 LOOP
                m := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i))::date;
                EXECUTE format(
                    'CREATE TABLE IF NOT EXISTS %I PARTITION OF tasks FOR VALUES FROM (%L) TO (%L)',
                    'tasks_p' || to_char(m, 'YYYY_MM'),
                    m::timestamp AT TIME ZONE 'UTC',
                    (m + interval '1 month')::timestamp AT TIME ZONE 'UTC');
            END LOOP;
        END $$
        """
    )
    op.execute(
        """
        CREATE TABLE outbox (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            topic text NOT NULL,
            key text NOT NULL,
            value jsonb NOT NULL,
            headers jsonb NOT NULL DEFAULT '{}'::jsonb,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE task_effects (
            task_id uuid PRIMARY KEY,
            attempt integer NOT NULL,
            effect jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE task_effects")
    op.execute("DROP TABLE outbox")
    op.execute("DROP TABLE tasks")
