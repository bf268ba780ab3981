"""Dispatch of SCHEDULED tasks whose `run_at` has come: PENDING plus an outbox row, atomically."""

import sqlalchemy as sa

from db.models import TaskStatus, outbox_table, tasks_table
from db.tasks_repo import notify_outbox, outbox_row, task_message
from db.topics import TASKS_TOPIC

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
    conn.execute(
        sa.insert(outbox_table),
        [
            outbox_row(
                TASKS_TOPIC,
                r.id,
                task_message(r.id, r.created_at, r.type, r.priority),
                r.correlation_id,
            )
            for r in rows
        ],
    )
    notify_outbox(conn)
    return len(rows)
