"""Writes and reads of task rows made by the API: submit (task + outbox in one transaction), get."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from psycopg.types.json import Jsonb

from db import outbox
from db.direct import Connection, fetch_one
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
    callback_url: str | None = None


@dataclass(frozen=True)
class InsertedTask:
    """What the API answers about a task it stored."""

    id: uuid.UUID
    created_at: datetime
    status: TaskStatus
    type: str
    extra: dict[str, Any] = field(default_factory=dict)


def insert_tasks(conn: Connection, new_tasks: Sequence[NewTask]) -> list[InsertedTask]:
    """Insert tasks and, for those due now, their outbox rows.

    One task is one statement, atomic on its own, on either kind of connection (the API runs
    single submits on a direct one, db/direct.py); several need the caller's transaction.
    Nothing here wakes the relay: the caller rings a `RelayWakeup` once its transaction has
    committed (db/wakeup.py says why not a NOTIFY inside it).
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
    elif task_rows and isinstance(conn, sa.Connection):
        # Many rows: executemany's batched VALUES beat one huge statement, whose thousand
        # parameters SQLAlchemy would compile anew for every batch size.
        conn.execute(sa.insert(tasks_table), task_rows)
        outbox.write(conn, outbox_rows)
    elif task_rows:
        raise TypeError("several tasks need a SQLAlchemy transaction, not a direct connection")
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


# A task and its outbox row as one statement: one round trip instead of four (BEGIN, two
# INSERTs, COMMIT), and atomic on its own (data-modifying CTEs run in
# the statement's snapshot, all or nothing), so the API sends it outside a transaction. Written
# for the driver, so the API's direct connection prepares it once and runs it without
# SQLAlchemy's execution (db/direct.py); the columns are TASK_COLUMNS and OUTBOX_COLUMNS.
_NEW_TASK = """
    INSERT INTO tasks (id, created_at, updated_at, type, payload, priority, run_at,
        max_attempts, status, attempts, correlation_id, tenant, idempotency_key, callback_url,
        redrive_count, cancel_requested, redispatches)
    VALUES (%(t_id)s, %(t_created_at)s, %(t_updated_at)s, %(t_type)s, %(t_payload)s,
        %(t_priority)s, %(t_run_at)s, %(t_max_attempts)s, %(t_status)s, %(t_attempts)s,
        %(t_correlation_id)s, %(t_tenant)s, %(t_idempotency_key)s, %(t_callback_url)s,
        %(t_redrive_count)s, %(t_cancel_requested)s, %(t_redispatches)s)
"""
ONE_TASK_SQL = (
    "WITH new_task AS (" + _NEW_TASK + " RETURNING id) "
    "INSERT INTO outbox (topic, key, value, headers) "
    "VALUES (%(o_topic)s, %(o_key)s, %(o_value)s, %(o_headers)s)"
)
ONE_SCHEDULED_TASK_SQL = _NEW_TASK
# Columns the driver must be told are JSON (a dict or list alone would not say which type).
_JSON_COLUMNS = frozenset({"t_payload", "o_value", "o_headers"})


def _insert_one(
    conn: Connection, task_row: dict[str, Any], outbox_row: dict[str, Any] | None
) -> None:
    params = {f"t_{c}": task_row[c] for c in TASK_COLUMNS}
    if outbox_row is not None:
        params.update({f"o_{c}": outbox_row[c] for c in OUTBOX_COLUMNS})
    for name in _JSON_COLUMNS.intersection(params):
        params[name] = Jsonb(params[name])
    fetch_one(conn, ONE_TASK_SQL if outbox_row is not None else ONE_SCHEDULED_TASK_SQL, params)


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
