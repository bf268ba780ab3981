"""Read-only queries behind the queue-health gauges: tasks by status, the oldest PENDING task."""

import sqlalchemy as sa

from db.models import TaskStatus, tasks_table

t = tasks_table


def tasks_by_status(conn: sa.Connection) -> dict[str, int]:
    """How many tasks each status has; every status is present, zero when it has none."""
    counts = {status.value: 0 for status in TaskStatus}
    stmt = sa.select(t.c.status, sa.func.count()).group_by(t.c.status)
    for status, count in conn.execute(stmt):
        counts[status] = int(count)
    return counts


def oldest_pending_age_s(conn: sa.Connection) -> float:
    """Seconds since the oldest PENDING task was created; 0 when none is pending."""
    stmt = sa.select(
        sa.func.coalesce(sa.func.extract("epoch", sa.func.now() - sa.func.min(t.c.created_at)), 0)
    ).where(t.c.status == TaskStatus.PENDING.value)
    return max(float(conn.execute(stmt).scalar_one()), 0.0)
