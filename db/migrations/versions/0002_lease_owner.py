"""Record which worker process holds an attempt's lease; index outbox rows by key.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # "host:pid" of the worker process running the current attempt. A delivery on the same host
    # that finds this process gone may take the attempt over at once instead of waiting for
    # the lease to expire (a worker child killed by the OOM killer, say).
    op.execute("ALTER TABLE tasks ADD COLUMN lease_owner text")
    # The reconciler asks whether a task still has an unpublished outbox row.
    op.execute("CREATE INDEX outbox_topic_key_idx ON outbox (topic, key)")


def downgrade() -> None:
    op.execute("DROP INDEX outbox_topic_key_idx")
    op.execute("ALTER TABLE tasks DROP COLUMN lease_owner")
