"""Read-only queries behind the queue-health gauges: tasks by status, the oldest PENDING task."""

import sqlalchemy as sa

from db.models import ACTIVE_STATUSES, TaskStatus, tasks_table

t = tasks_table


def tasks_by_status(conn: sa.Connection) -> dict[str, int]:
    """How many tasks each active status has (zero when it has none).

    Only the active statuses: their rows are all in the partial index `tasks_active_idx`,
    which stays as small as the live work, so a refresh never scans the history (a count of
    COMPLETED rows would read every partition). Finished work is counted by the workers'
    counters (task_processing_time_count by outcome).
    """
    active = [status.value for status in ACTIVE_STATUSES]
    counts = dict.fromkeys(active, 0)
    stmt = sa.select(t.c.status, sa.func.count()).where(t.c.status.in_(active)).group_by(t.c.status)
    for status, count in conn.execute(stmt):
        counts[status] = int(count)
    return counts


def oldest_pending_age_s(conn: sa.Connection) -> float:
    """Seconds since the oldest PENDING task was created; 0 when none is pending."""
    stmt = sa.select(
        sa.func.coalesce(sa.func.extract("epoch", sa.func.now() - sa.func.min(t.c.created_at)), 0)
    ).where(t.c.status == TaskStatus.PENDING.value)
    return max(float(conn.execute(stmt).scalar_one()), 0.0)
