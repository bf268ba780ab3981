"""Writes and reads of task rows made by the API: submit (task + outbox in one transaction), get."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from db import outbox
from db.ids import created_at_of, uuid7
from db.models import TaskStatus, tasks_table


@dataclass(frozen=True)
class NewTask:
    """A validated submission, ready to insert."""

    type: str
    payload: dict[str, Any]
    max_attempts: int
    priority: int = 0
    run_at: datetime | None = None
    correlation_id: str | None = None
    tenant: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class InsertedTask:
    """What the API answers about a task it stored."""

    id: uuid.UUID
    created_at: datetime
    status: TaskStatus
    type: str
    extra: dict[str, Any] = field(default_factory=dict)


def insert_tasks(conn: sa.Connection, new_tasks: Sequence[NewTask]) -> list[InsertedTask]:
    """Insert tasks and, for those due now, their outbox rows; notify the relay once."""
    now = datetime.now(UTC)
    task_rows: list[dict[str, Any]] = []
    outbox_rows: list[dict[str, Any]] = []
    inserted: list[InsertedTask] = []
    for new in new_tasks:
        task_id = uuid7(now)
        created_at = created_at_of(task_id)
        scheduled = new.run_at is not None and new.run_at > now
        status = TaskStatus.SCHEDULED if scheduled else TaskStatus.PENDING
        task_rows.append(
            {
                "id": task_id,
                "created_at": created_at,
                "updated_at": now,
                "type": new.type,
                "payload": new.payload,
                "priority": new.priority,
                "run_at": new.run_at,
                "max_attempts": new.max_attempts,
                "status": status.value,
                "attempts": 0,
                "correlation_id": new.correlation_id,
                "tenant": new.tenant,
                "idempotency_key": new.idempotency_key,
            }
        )
        if not scheduled:
            outbox_rows.append(
                outbox.task_row(task_id, created_at, new.type, new.priority, new.correlation_id)
            )
        inserted.append(InsertedTask(task_id, created_at, status, new.type))
    if task_rows:
        conn.execute(sa.insert(tasks_table), task_rows)
    outbox.enqueue(conn, outbox_rows)
    return inserted


def get_task(conn: sa.Connection, task_id: uuid.UUID) -> dict[str, Any] | None:
    """Return a task's columns by id, touching only the partition its id points at."""
    t = tasks_table
    row = (
        conn.execute(
            sa.select(t).where(t.c.id == task_id, t.c.created_at == created_at_of(task_id))
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None
