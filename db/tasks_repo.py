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
from db.topics import OUTBOX_CHANNEL


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
    callback_url: str | None = None


@dataclass(frozen=True)
class InsertedTask:
    """What the API answers about a task it stored."""

    id: uuid.UUID
    created_at: datetime
    status: TaskStatus
    type: str
    extra: dict[str, Any] = field(default_factory=dict)


def insert_tasks(conn: sa.Connection, new_tasks: Sequence[NewTask]) -> list[InsertedTask]:
    """Insert tasks and, for those due now, their outbox rows; notify the relay once.

    One task is one statement, atomic on its own; several need the caller's transaction.
    """
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
                "callback_url": new.callback_url,
                # Given explicitly: a multi-row INSERT inside a CTE gets no Python-side
                # defaults from the model.
                "redrive_count": 0,
                "cancel_requested": False,
                "redispatches": 0,
            }
        )
        if not scheduled:
            outbox_rows.append(
                outbox.task_row(task_id, created_at, new.type, new.priority, new.correlation_id)
            )
        inserted.append(InsertedTask(task_id, created_at, status, new.type))
    if len(task_rows) == 1:
        _insert_one(conn, task_rows[0], outbox_rows[0] if outbox_rows else None)
    elif task_rows:
        # Many rows: executemany's batched VALUES beat one huge statement, whose thousand
        # parameters SQLAlchemy would compile anew for every batch size.
        conn.execute(sa.insert(tasks_table), task_rows)
        outbox.enqueue(conn, outbox_rows)
    return inserted


TASK_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "type",
    "payload",
    "priority",
    "run_at",
    "max_attempts",
    "status",
    "attempts",
    "correlation_id",
    "tenant",
    "idempotency_key",
    "callback_url",
    "redrive_count",
    "cancel_requested",
    "redispatches",
)
OUTBOX_COLUMNS = ("topic", "key", "value", "headers")


def _one_task_statement(with_outbox: bool) -> sa.Select[Any]:
    """A task, its outbox row and the relay's wake-up as one statement, built once.

    One round trip instead of five (BEGIN, two INSERTs, NOTIFY, COMMIT), and atomic on its
    own: data-modifying CTEs run in the statement's snapshot, all or nothing, so the API can
    send it outside a transaction. Built with bound parameters, so SQLAlchemy compiles it
    once per process rather than per request.
    """
    task_values = {c: sa.bindparam(f"t_{c}", type_=tasks_table.c[c].type) for c in TASK_COLUMNS}
    rows = sa.insert(tasks_table).values(task_values).returning(tasks_table.c.id).cte("new_task")
    if not with_outbox:
        return sa.select(sa.literal(1)).add_cte(rows)
    o = outbox.o
    queued_values = {c: sa.bindparam(f"o_{c}", type_=o.c[c].type) for c in OUTBOX_COLUMNS}
    queued = sa.insert(o).values(queued_values).returning(o.c.id).cte("queued")
    return sa.select(sa.func.pg_notify(OUTBOX_CHANNEL, "")).add_cte(rows, queued)


_ONE_TASK = _one_task_statement(with_outbox=True)
_ONE_SCHEDULED_TASK = _one_task_statement(with_outbox=False)


def _insert_one(
    conn: sa.Connection, task_row: dict[str, Any], outbox_row: dict[str, Any] | None
) -> None:
    params = {f"t_{c}": task_row[c] for c in TASK_COLUMNS}
    if outbox_row is None:
        conn.execute(_ONE_SCHEDULED_TASK, params)
        return
    params.update({f"o_{c}": outbox_row[c] for c in OUTBOX_COLUMNS})
    conn.execute(_ONE_TASK, params)


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
