"""FAILED tasks, selected in PostgreSQL by their latest failure: what `taskctl dlt list|redrive`
(and the re-drive API) work from.

PostgreSQL keeps a FAILED row as long as its month is kept; the `tasks-dlt` topic is the stream
for consumers and may expire sooner. A row holds only its latest failure (error, error type,
finished_at), so a filter here always matches a task's current failure, never an earlier one.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from db.ids import created_at_of
from db.models import TaskStatus, tasks_table

t = tasks_table


@dataclass(frozen=True)
class FailedFilter:
    """Which FAILED tasks; empty fields match everything."""

    types: tuple[str, ...] = ()
    error_types: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    task_ids: tuple[uuid.UUID, ...] = ()
    payload: dict[str, Any] = field(default_factory=dict)
    # The API key's tenant; None matches every tenant (an admin, or authentication off).
    tenant: str | None = None


@dataclass(frozen=True)
class FailedTask:
    """A FAILED task and its latest failure."""

    id: uuid.UUID
    created_at: datetime
    type: str
    error: str | None
    error_type: str | None
    attempts: int
    failed_at: datetime | None
    correlation_id: str | None
    payload: dict[str, Any]
    redrive_count: int
    tenant: str | None

    def summary(self) -> dict[str, Any]:
        """The task as plain JSON values (for `--json`)."""
        return {
            "id": str(self.id),
            "type": self.type,
            "error_type": self.error_type,
            "error": self.error,
            "attempts": self.attempts,
            "failed_at": self.failed_at.isoformat() if self.failed_at else None,
            "correlation_id": self.correlation_id,
            "payload": self.payload,
            "redrive_count": self.redrive_count,
            "tenant": self.tenant,
        }


def failed_query(where: FailedFilter) -> sa.Select[Any]:
    """The FAILED rows matching `where`, oldest failure first (served by tasks_failed_idx)."""
    query = sa.select(t).where(t.c.status == TaskStatus.FAILED.value)
    if where.types:
        query = query.where(t.c.type.in_(where.types))
    if where.error_types:
        query = query.where(t.c.error_type.in_(where.error_types))
    if where.since is not None:
        query = query.where(t.c.finished_at >= where.since)
    if where.until is not None:
        query = query.where(t.c.finished_at < where.until)
    if where.task_ids:
        keys = [(task_id, created_at_of(task_id)) for task_id in where.task_ids]
        query = query.where(sa.tuple_(t.c.id, t.c.created_at).in_(keys))
    if where.payload:
        query = query.where(t.c.payload.op("@>")(sa.cast(where.payload, JSONB)))
    if where.tenant is not None:
        query = query.where(t.c.tenant == where.tenant)
    return query.order_by(t.c.finished_at, t.c.id)


def failed_tasks(
    conn: sa.Connection, where: FailedFilter, limit: int | None = None
) -> list[FailedTask]:
    """The FAILED tasks matching `where`, oldest failure first, at most `limit`."""
    query = failed_query(where)
    if limit is not None:
        query = query.limit(limit)
    return [
        FailedTask(
            id=r.id,
            created_at=r.created_at,
            type=r.type,
            error=r.last_error,
            error_type=r.error_type,
            attempts=r.attempts,
            failed_at=r.finished_at,
            correlation_id=r.correlation_id,
            payload=r.payload,
            redrive_count=r.redrive_count,
            tenant=r.tenant,
        )
        for r in conn.execute(query)
    ]
