"""Read-only queries behind the queue-health gauges: tasks by status, the oldest PENDING task."""

import sqlalchemy as sa

from db.models import ACTIVE_STATUSES, TaskStatus, tasks_table

t = tasks_table


def tasks_by_status(conn: sa.Connection) -> dict[str, int]:
    """How many tasks each active status has (zero when it has none).

    Only the active statuses: their rows are all in the partial index `tasks_active_idx`,
    which stays as small as the live work, so a refresh never scans the history (a count of
    COMPLETED rows would read every partition). They are written into the statement, so a
    generic plan of the prepared statement still matches the index. Finished work is counted by
    the workers' counters (task_processing_time_count by outcome).
    """
    active = [status.value for status in ACTIVE_STATUSES]
    counts = dict.fromkeys(active, 0)
    stmt = (
        sa.select(t.c.status, sa.func.count())
        .where(t.c.status.in_(sa.bindparam("active", active, expanding=True, literal_execute=True)))
        .group_by(t.c.status)
    )
    for status, count in conn.execute(stmt):
        counts[status] = int(count)
    return counts


def oldest_pending_age_s(conn: sa.Connection) -> float:
    """Seconds since the oldest PENDING task was created; 0 when none is pending.

    Written so that PostgreSQL reads the PENDING rows from the partial index and takes their
    minimum. Left to itself it answered `min(created_at)` by walking `tasks_created_idx` from
    the oldest row until one was PENDING, which costs nothing on a table of evenly mixed
    statuses and the whole history on a real one, where the PENDING rows are the newest (155 ms
    and 227,000 buffers a refresh at 225,000 rows). The subquery's `OFFSET 0` keeps the
    minimum from being turned into that walk; the status is written into the statement, so a
    generic plan of the prepared statement still matches the partial index.
    """
    pending = sa.literal(TaskStatus.PENDING.value, literal_execute=True)
    rows = (
        sa.select(t.c.created_at)
        .where(t.c.status == pending)
        .offset(sa.literal_column("0"))
        .subquery("pending")
    )
    stmt = sa.select(
        sa.func.coalesce(
            sa.func.extract("epoch", sa.func.now() - sa.func.min(rows.c.created_at)), 0
        )
    )
    return max(float(conn.execute(stmt).scalar_one()), 0.0)
