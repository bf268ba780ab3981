"""Dispatch of SCHEDULED tasks whose `run_at` has come: PENDING plus an outbox row, atomically."""

import sqlalchemy as sa

from db import outbox
from db.models import TaskStatus, tasks_table

t = tasks_table


def dispatch_due(conn: sa.Connection, batch: int = 1000) -> int:
    """Move up to `batch` due SCHEDULED tasks to PENDING and queue their `tasks` records.

    Rows another dispatcher holds are skipped, not awaited, so two beat processes (or a slow
    run overlapping the next) never dispatch a task twice nor block each other.
    """
    due = (
        sa.select(t.c.id, t.c.created_at)
        .where(t.c.status == TaskStatus.SCHEDULED.value, t.c.run_at <= sa.func.now())
        .order_by(t.c.run_at)
        .limit(batch)
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    stmt = (
        sa.update(t)
        .where(t.c.id == due.c.id, t.c.created_at == due.c.created_at)
        .where(t.c.status == TaskStatus.SCHEDULED.value)
        .values(status=TaskStatus.PENDING.value, updated_at=sa.func.now())
        .returning(t.c.id, t.c.created_at, t.c.type, t.c.priority, t.c.correlation_id)
    )
    rows = conn.execute(stmt).all()
    if not rows:
        return 0
    outbox.enqueue(
        conn,
        [outbox.task_row(r.id, r.created_at, r.type, r.priority, r.correlation_id) for r in rows],
    )
    return len(rows)
