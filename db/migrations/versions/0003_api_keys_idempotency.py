"""API keys, idempotency keys and the index the scheduled-task dispatcher scans.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Only a SHA-256 of each key is stored: keys are 256-bit random tokens, so a plain hash is
    # as good as a slow one and lets a request be authenticated with one index lookup.
    op.execute(
        """
        CREATE TABLE api_keys (
            id uuid PRIMARY KEY,
            name text NOT NULL,
            tenant text NOT NULL CHECK (tenant <> ''),
            scopes text[] NOT NULL,
            key_hash text NOT NULL UNIQUE,
            key_prefix text NOT NULL,
            rate_limit text,
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz
        )
        """
    )
    # Idempotency keys need uniqueness across every partition of tasks, which a partitioned
    # table cannot enforce, so they live here (docs/architecture.md, "Task model").
    op.execute(
        """
        CREATE TABLE idempotency_keys (
            tenant text NOT NULL,
            key text NOT NULL,
            request_hash text NOT NULL,
            task_ids uuid[] NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            PRIMARY KEY (tenant, key)
        )
        """
    )
    op.execute("CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at)")
    op.execute(
        "CREATE INDEX IF NOT EXISTS tasks_scheduled_due_idx ON tasks (run_at) "
        "WHERE status = 'SCHEDULED'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS tasks_scheduled_due_idx")
    op.execute("DROP TABLE idempotency_keys")
    op.execute("DROP TABLE api_keys")
