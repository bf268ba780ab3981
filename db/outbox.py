"""The transactional outbox: rows written in the transaction of the change they announce,
claimed and deleted by the relay once Kafka acknowledged them.

Every Kafka record of the service goes through here, so a database write and its message are
atomic: no committed task is left unpublished, no message exists for a rolled-back write.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from db.models import outbox_table
from db.topics import DLT_TOPIC, OUTBOX_CHANNEL, TASKS_TOPIC
from db.wire import dlt_value, headers_of, task_value

o = outbox_table


@dataclass(frozen=True)
class OutboxRecord:
    """One Kafka record waiting in the outbox."""

    id: int
    topic: str
    key: str
    value: dict[str, Any]
    headers: dict[str, str]


def outbox_row(
    topic: str, key: uuid.UUID, value: dict[str, Any], correlation_id: str | None
) -> dict[str, Any]:
    """An outbox row's column values; the correlation id travels as a Kafka header."""
    return {"topic": topic, "key": str(key), "value": value, "headers": headers_of(correlation_id)}


def task_row(
    task_id: uuid.UUID, created_at: Any, task_type: str, priority: int, correlation_id: str | None
) -> dict[str, Any]:
    """The outbox row of a task's `tasks` record (submit, re-dispatch, re-drive, schedule)."""
    value = task_value(task_id, created_at, task_type, priority)
    return outbox_row(TASKS_TOPIC, task_id, value, correlation_id)


def dlt_row(task: dict[str, Any]) -> dict[str, Any]:
    """The outbox row of a FAILED task's `tasks-dlt` record, from its row's columns."""
    return outbox_row(DLT_TOPIC, task["id"], dlt_value(task), task["correlation_id"])


def enqueue(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Write outbox rows in the caller's transaction and wake the relay when it commits."""
    if rows:
        write(conn, rows)
        notify(conn)


def write(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Write outbox rows in the caller's transaction; the caller wakes the relay after the
    commit (the API's submits, db/wakeup.py)."""
    if rows:
        conn.execute(sa.insert(o), list(rows))


def notify(conn: sa.Connection) -> None:
    """Wake the relay when the current transaction commits (NOTIFY is transactional)."""
    conn.execute(sa.select(sa.func.pg_notify(OUTBOX_CHANNEL, "")))


@dataclass(frozen=True)
class ParkedRecord:
    """A record Kafka can never take, kept here with the reason until an operator acts."""

    id: int
    topic: str
    key: str
    created_at: datetime
    parked_at: datetime
    reason: str
    value_bytes: int


def claim_batch(conn: sa.Connection, limit: int) -> list[OutboxRecord]:
    """Lock up to `limit` of the oldest rows that are not parked; rows another relay holds are
    skipped, not awaited."""
    stmt = (
        sa.select(o.c.id, o.c.topic, o.c.key, o.c.value, o.c.headers)
        .where(o.c.parked_at.is_(None))
        .order_by(o.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [OutboxRecord(r.id, r.topic, r.key, r.value, r.headers) for r in conn.execute(stmt)]


def delete_published(conn: sa.Connection, ids: Sequence[int]) -> int:
    """Delete the rows Kafka acknowledged; returns how many were deleted."""
    if not ids:
        return 0
    return conn.execute(sa.delete(o).where(o.c.id.in_(list(ids)))).rowcount


def park(conn: sa.Connection, reasons: dict[int, str]) -> int:
    """Set rows aside that Kafka can never take, each with its reason; returns how many."""
    parked = 0
    for row_id, reason in reasons.items():
        parked += conn.execute(
            sa.update(o)
            .where(o.c.id == row_id, o.c.parked_at.is_(None))
            .values(parked_at=sa.func.now(), park_reason=reason[:2000])
        ).rowcount
    return parked


def parked_rows(conn: sa.Connection, limit: int = 1000) -> list[ParkedRecord]:
    """The parked rows, oldest first."""
    stmt = (
        sa.select(
            o.c.id,
            o.c.topic,
            o.c.key,
            o.c.created_at,
            o.c.parked_at,
            o.c.park_reason,
            sa.func.octet_length(sa.cast(o.c.value, sa.Text)).label("value_bytes"),
        )
        .where(o.c.parked_at.is_not(None))
        .order_by(o.c.id)
        .limit(limit)
    )
    return [
        ParkedRecord(
            r.id, r.topic, r.key, r.created_at, r.parked_at, r.park_reason or "", r.value_bytes
        )
        for r in conn.execute(stmt)
    ]


def unpark(conn: sa.Connection, ids: Sequence[int] | None = None) -> int:
    """Put parked rows (all of them when `ids` is None) back in line; returns how many."""
    stmt = sa.update(o).where(o.c.parked_at.is_not(None))
    if ids is not None:
        stmt = stmt.where(o.c.id.in_(list(ids)))
    count = conn.execute(stmt.values(parked_at=None, park_reason=None)).rowcount
    if count:
        notify(conn)
    return count


def backlog(conn: sa.Connection) -> tuple[int, float, int]:
    """Rows waiting, the age in seconds of the oldest one (0 when empty), and rows parked."""
    waiting = o.c.parked_at.is_(None)
    row = conn.execute(
        sa.select(
            sa.func.count().filter(waiting),
            sa.func.coalesce(
                sa.func.extract(
                    "epoch", sa.func.now() - sa.func.min(o.c.created_at).filter(waiting)
                ),
                0,
            ),
            sa.func.count().filter(~waiting),
        )
    ).one()
    return int(row[0]), float(row[1]), int(row[2])
