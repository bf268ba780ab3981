"""The payload GIN index of every `tasks` partition without a pending list (fastupdate off).

Every claim and completion changes `status`, so none is a HOT update and each inserts the
task's payload into the GIN index again; with the pending list on, those statements waited on
the list and merged it into the index, several times the time of the update itself
(db/partitions.py, GIN_OPTIONS, has the figures). New partitions get the option when db/partitions.py creates them.

ALTER INDEX ... SET only changes the catalog; gin_clean_pending_list then moves what the list
holds into the index, so no later statement pays for it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_PARTITION_GIN_INDEXES = """
    SELECT i.indexrelid::regclass AS idx
    FROM pg_inherits h
    JOIN pg_index i ON i.indrelid = h.inhrelid
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_am am ON am.oid = c.relam
    WHERE h.inhparent = 'tasks'::regclass AND am.amname = 'gin'
"""


def _each_partition_gin_index(statements: str) -> None:
    """Run `statements` (PL/pgSQL, the index as `r.idx`) for each GIN index of a partition."""
    op.execute(
        f"""
        DO $$
        DECLARE
            r record;
        BEGIN
            FOR r IN {_PARTITION_GIN_INDEXES} LOOP
                {statements}
            END LOOP;
        END $$
        """
    )


def upgrade() -> None:
    _each_partition_gin_index(
        "EXECUTE format('ALTER INDEX %s SET (fastupdate = off)', r.idx);"
        " PERFORM gin_clean_pending_list(r.idx);"
    )


def downgrade() -> None:
    _each_partition_gin_index("EXECUTE format('ALTER INDEX %s RESET (fastupdate)', r.idx);")
