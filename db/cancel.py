"""Cancellation of tasks, stored in PostgreSQL so it works while every worker is offline."""

import enum
import uuid
from dataclasses import dataclass

import sqlalchemy as sa

from db import webhooks
from db.ids import created_at_of
from db.models import TaskStatus, status_in, tasks_table

t = tasks_table

# States in which no attempt is running: the task can be cancelled outright, and the claim of
# any message still queued for it then finds a row it may not take.
CANCELLABLE_NOW = (TaskStatus.SCHEDULED, TaskStatus.PENDING, TaskStatus.RETRYING)


class CancelOutcome(enum.Enum):
    """What a cancellation request did."""

    CANCELLED = "cancelled"
    REQUESTED = "requested"
    TERMINAL = "terminal"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class CancelResult:
    """The outcome and the task's status afterwards (None when not found)."""

    outcome: CancelOutcome
    status: str | None


def cancelled_values() -> dict[str, object]:
    """Column values that end a task as CANCELLED (no attempt, nothing scheduled)."""
    now = sa.func.now()
    return {
        "status": TaskStatus.CANCELLED.value,
        "finished_at": now,
        "updated_at": now,
        "next_attempt_at": None,
        "lease_token": None,
        "lease_expires_at": None,
        "lease_owner": None,
    }


def _owned(task_id: uuid.UUID, tenant: str | None) -> sa.ColumnElement[bool]:
    cond = sa.and_(t.c.id == task_id, t.c.created_at == created_at_of(task_id))
    return sa.and_(cond, t.c.tenant == tenant) if tenant is not None else cond


def cancel_task(
    conn: sa.Connection, task_id: uuid.UUID, tenant: str | None, *, tries: int = 3
) -> CancelResult:
    """Cancel a task of `tenant` (None: any tenant); see CancelOutcome for the cases."""
    now = sa.func.now()
    cancelled = conn.execute(
        sa.update(t)
        .where(_owned(task_id, tenant), status_in(*(s.value for s in CANCELLABLE_NOW)))
        .values(cancel_requested=True, **cancelled_values())
        .returning(t.c.status)
    ).first()
    if cancelled is not None:
        webhooks.enqueue_for(conn, [(task_id, created_at_of(task_id))])
        return CancelResult(CancelOutcome.CANCELLED, cancelled.status)
    # A running attempt cannot be stopped from here: the flag makes the worker stop the task
    # before its next attempt (and the claim already refuses flagged rows).
    requested = conn.execute(
        sa.update(t)
        .where(_owned(task_id, tenant), t.c.status == TaskStatus.PROCESSING.value)
        .values(cancel_requested=True, updated_at=now)
        .returning(t.c.status)
    ).first()
    if requested is not None:
        return CancelResult(CancelOutcome.REQUESTED, requested.status)
    row = conn.execute(sa.select(t.c.status).where(_owned(task_id, tenant))).first()
    if row is None:
        return CancelResult(CancelOutcome.NOT_FOUND, None)
    # The row changed state between the statements (a retry became PROCESSING, say) or it is
    # terminal; only terminal is reported as such, the caller may retry the rest.
    active = {s.value for s in CANCELLABLE_NOW} | {TaskStatus.PROCESSING.value}
    if row.status in active and tries > 1:
        return cancel_task(conn, task_id, tenant, tries=tries - 1)
    return CancelResult(CancelOutcome.TERMINAL, row.status)
