"""The operator and client surface: attempt history, re-drives as resources, completion webhooks.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per attempt, written in the claim's statement and finished in the outcome's,
    # partitioned like `tasks` (db/partitions.py, CHILD_TABLES) so retention drops it with them.
    # `run` is the task's redrive_count when the attempt started: a re-drive counts attempts
    # from 1 again, and the runs keep them apart.
    op.execute(
        """
        CREATE TABLE task_attempts (
            task_id uuid NOT NULL,
            task_created_at timestamptz NOT NULL,
            run integer NOT NULL,
            attempt integer NOT NULL,
            worker text,
            started_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz,
            outcome text NOT NULL DEFAULT 'running' CHECK (outcome IN
                ('running', 'completed', 'retried', 'failed', 'lost', 'cancelled')),
            error_type text,
            error text,
            duration_s double precision,
            PRIMARY KEY (task_id, task_created_at, run, attempt)
        ) PARTITION BY RANGE (task_created_at)
        """
    )
    op.execute("CREATE TABLE task_attempts_default PARTITION OF task_attempts DEFAULT")
    op.execute(
        r"""
        DO $$
        DECLARE
            r record;
        BEGIN
            FOR r IN
                SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
                FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'tasks'::regclass AND c.relname LIKE 'tasks\_p%'
            LOOP
                EXECUTE format(
                    'CREATE TABLE %I PARTITION OF task_attempts %s',
                    'task_attempts' || substr(r.relname, 6), r.bound);
            END LOOP;
        END $$
        """
    )
    # A re-drive is a resource: its filter, rate and limit, its state and counts. The tasks it
    # matched are listed in redrive_items when it starts, so every one is re-driven exactly
    # once however often the job restarts, and one that failed again meanwhile is not taken.
    op.execute(
        """
        CREATE TABLE redrives (
            id uuid PRIMARY KEY,
            tenant text,
            filter jsonb NOT NULL,
            rate double precision CHECK (rate IS NULL OR rate > 0),
            item_limit integer CHECK (item_limit IS NULL OR item_limit > 0),
            dry_run boolean NOT NULL DEFAULT false,
            state text NOT NULL DEFAULT 'PENDING' CHECK (state IN
                ('PENDING', 'RUNNING', 'COMPLETED', 'CANCELLED', 'FAILED')),
            matched integer NOT NULL DEFAULT 0,
            redriven integer NOT NULL DEFAULT 0,
            skipped integer NOT NULL DEFAULT 0,
            failed integer NOT NULL DEFAULT 0,
            cancel_requested boolean NOT NULL DEFAULT false,
            error text,
            created_by text,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz
        )
        """
    )
    op.execute(
        "CREATE INDEX redrives_active_idx ON redrives (updated_at) "
        "WHERE state IN ('PENDING', 'RUNNING')"
    )
    op.execute("CREATE INDEX redrives_tenant_idx ON redrives (tenant, created_at DESC)")
    op.execute(
        """
        CREATE TABLE redrive_items (
            redrive_id uuid NOT NULL REFERENCES redrives (id) ON DELETE CASCADE,
            seq integer NOT NULL,
            task_id uuid NOT NULL,
            task_created_at timestamptz NOT NULL,
            state text NOT NULL DEFAULT 'pending' CHECK (state IN
                ('pending', 'redriven', 'skipped', 'failed')),
            PRIMARY KEY (redrive_id, seq)
        )
        """
    )
    op.execute(
        "CREATE INDEX redrive_items_pending_idx ON redrive_items (redrive_id, seq) "
        "WHERE state = 'pending'"
    )
    # Completion webhooks: a task may name a callback URL; a tenant may register a default
    # and holds the secret its deliveries are signed with. A delivery is written in the
    # transaction that ends the task (an outbox for HTTP) and sent by the relay.
    op.execute("ALTER TABLE tasks ADD COLUMN callback_url text")
    op.execute(
        """
        CREATE TABLE tenant_webhooks (
            tenant text PRIMARY KEY,
            url text,
            secret text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE webhook_deliveries (
            id uuid PRIMARY KEY,
            task_id uuid NOT NULL,
            task_created_at timestamptz NOT NULL,
            tenant text,
            url text NOT NULL,
            event text NOT NULL,
            payload jsonb NOT NULL,
            state text NOT NULL DEFAULT 'pending' CHECK (state IN
                ('pending', 'delivered', 'failed')),
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            last_status integer,
            last_error text,
            created_at timestamptz NOT NULL DEFAULT now(),
            delivered_at timestamptz
        )
        """
    )
    op.execute(
        "CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) "
        "WHERE state = 'pending'"
    )
    op.execute("CREATE INDEX webhook_deliveries_task_idx ON webhook_deliveries (task_id)")


def downgrade() -> None:
    op.execute("DROP TABLE webhook_deliveries")
    op.execute("DROP TABLE tenant_webhooks")
    op.execute("ALTER TABLE tasks DROP COLUMN callback_url")
    op.execute("DROP TABLE redrive_items")
    op.execute("DROP TABLE redrives")
    op.execute("DROP TABLE task_attempts")
