"""Re-drive of dead-lettered tasks: FAILED back to PENDING, published again through the outbox."""

import uuid
from typing import Any

import sqlalchemy as sa

from db import outbox
from db.ids import created_at_of
from db.models import TaskStatus, status_in, tasks_table

t = tasks_table


def redrive_task(conn: sa.Connection, task_id: uuid.UUID) -> dict[str, Any] | None:
    """Reset one FAILED task to PENDING with fresh attempts and queue its `tasks` record.

    Returns the task's new state, or None when the task is not FAILED (already re-driven, or
    never failed), which is what makes an interrupted re-drive safe to run again.
    """
    stmt = (
        sa.update(t)
        .where(
            t.c.id == task_id,
            t.c.created_at == created_at_of(task_id),
            status_in(TaskStatus.FAILED.value),
        )
        .values(
            status=TaskStatus.PENDING.value,
            attempts=0,
            redrive_count=t.c.redrive_count + 1,
            # An operator re-driving a task wants it to run, whatever was asked of it before.
            cancel_requested=False,
            next_attempt_at=None,
            finished_at=None,
            result=None,
            updated_at=sa.func.now(),
        )
        .returning(
            t.c.id, t.c.created_at, t.c.type, t.c.priority, t.c.correlation_id, t.c.redrive_count
        )
    )
    row = conn.execute(stmt).first()
    if row is None:
        return None
    outbox.enqueue(
        conn, [outbox.task_row(row.id, row.created_at, row.type, row.priority, row.correlation_id)]
    )
    return {"id": str(row.id), "type": row.type, "redrive_count": row.redrive_count}
