"""Recovery without amplification: parked outbox rows, the broker epoch, per-task re-dispatch
backoff, FAILED rows by failure time, and side effects partitioned with their tasks.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A record Kafka can never take (too large, a missing topic) is parked instead of blocking
    # every row behind it; the relay claims only rows that are not parked.
    op.execute("ALTER TABLE outbox ADD COLUMN parked_at timestamptz")
    op.execute("ALTER TABLE outbox ADD COLUMN park_reason text")
    op.execute("CREATE INDEX outbox_ready_idx ON outbox (id) WHERE parked_at IS NULL")
    # Small facts the reconciler keeps between runs (the broker's epoch: db/reconcile.py).
    op.execute(
        """
        CREATE TABLE reconciler_state (
            key text PRIMARY KEY,
            value text NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    # How often the reconciler re-published a task it presumed lost; each time it waits twice
    # as long before doing so again, so a task that is merely queued is never re-published in
    # a loop.
    op.execute("ALTER TABLE tasks ADD COLUMN redispatches integer NOT NULL DEFAULT 0")
    # `taskctl dlt list|redrive` select FAILED rows by their latest failure's time.
    op.execute("CREATE INDEX tasks_failed_idx ON tasks (finished_at) WHERE status = 'FAILED'")
    # task_effects becomes partitioned by its task's created_at, one partition per month of
    # `tasks`, so retention drops a month's effects with the month's tasks.
    op.execute("ALTER TABLE task_effects RENAME TO task_effects_old")
    op.execute(
        "ALTER TABLE task_effects_old RENAME CONSTRAINT task_effects_pkey TO task_effects_old_pkey"
    )
    op.execute(
        """
        CREATE TABLE task_effects (
            task_id uuid NOT NULL,
            task_created_at timestamptz NOT NULL,
            attempt integer NOT NULL,
            effect jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (task_id, task_created_at)
        ) PARTITION BY RANGE (task_created_at)
        """
    )
    op.execute("CREATE TABLE task_effects_default PARTITION OF task_effects DEFAULT")
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
                    'CREATE TABLE %I PARTITION OF task_effects %s',
                    'task_effects' || substr(r.relname, 6), r.bound);
            END LOOP;
        END $$
        """
    )
    op.execute(
        """
        INSERT INTO task_effects (task_id, task_created_at, attempt, effect, created_at)
        SELECT e.task_id, t.created_at, e.attempt, e.effect, e.created_at
        FROM task_effects_old e JOIN tasks t ON t.id = e.task_id
        """
    )
    op.execute("DROP TABLE task_effects_old")


def downgrade() -> None:
    op.execute("ALTER TABLE task_effects RENAME TO task_effects_partitioned")
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
    op.execute(
        "INSERT INTO task_effects SELECT task_id, attempt, effect, created_at "
        "FROM task_effects_partitioned"
    )
    op.execute("DROP TABLE task_effects_partitioned")
    op.execute("DROP INDEX tasks_failed_idx")
    op.execute("ALTER TABLE tasks DROP COLUMN redispatches")
    op.execute("DROP TABLE reconciler_state")
    op.execute("DROP INDEX outbox_ready_idx")
    op.execute("ALTER TABLE outbox DROP COLUMN park_reason")
    op.execute("ALTER TABLE outbox DROP COLUMN parked_at")
