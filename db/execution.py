"""The worker's writes: claim an attempt, then finish it (complete, retry later, fail + DLT).

The claim is a compare-and-set that increments `attempts` and sets a fresh lease token; every
finishing write is fenced on that token, so an attempt whose lease was taken over can never
overwrite the newer attempt's outcome (docs/architecture.md, "Execution guarantees").
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from db import outbox
from db.cancel import cancelled_values
from db.ids import created_at_of
from db.models import TaskStatus, task_effects_table, tasks_table

t = tasks_table

CLAIMABLE = (TaskStatus.PENDING.value, TaskStatus.RETRYING.value)


@dataclass(frozen=True)
class Claim:
    """One attempt of a task, owned by whoever holds `lease_token`."""

    task_id: uuid.UUID
    created_at: datetime
    type: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    lease_token: uuid.UUID
    correlation_id: str | None
    priority: int
    redrive_count: int = 0

    @property
    def is_last_attempt(self) -> bool:
        """Whether a failure of this attempt spends the task's attempts."""
        return self.attempt >= self.max_attempts


def _key(task_id: uuid.UUID) -> sa.ColumnElement[bool]:
    return sa.and_(t.c.id == task_id, t.c.created_at == created_at_of(task_id))


@dataclass(frozen=True)
class TaskState:
    """The columns that decide what a delivery that could not claim the task should do."""

    status: str
    attempts: int
    max_attempts: int
    lease_token: uuid.UUID | None
    lease_owner: str | None
    lease_expired: bool
    cancel_requested: bool


def claim_task(
    conn: sa.Connection,
    task_id: uuid.UUID,
    lease_s: float,
    owner: str,
    takeover_token: uuid.UUID | None = None,
) -> Claim | None:
    """Start a new attempt if the task is claimable; None when it is not (duplicate delivery).

    `takeover_token` lets the caller take over a PROCESSING attempt whose owner it has seen die;
    the token makes that a compare-and-set against exactly the attempt it saw.
    """
    now = sa.func.now()
    processing = t.c.status == TaskStatus.PROCESSING.value
    # A PROCESSING row whose lease ran out belongs to a worker that died mid-attempt.
    orphaned = t.c.lease_expires_at < now
    if takeover_token is not None:
        orphaned = sa.or_(orphaned, t.c.lease_token == takeover_token)
    claimable = sa.or_(t.c.status.in_(CLAIMABLE), sa.and_(processing, orphaned))
    token = uuid.uuid4()
    stmt = (
        sa.update(t)
        .where(_key(task_id), claimable, t.c.attempts < t.c.max_attempts, ~t.c.cancel_requested)
        .values(
            status=TaskStatus.PROCESSING.value,
            attempts=t.c.attempts + 1,
            lease_token=token,
            lease_expires_at=now + timedelta(seconds=lease_s),
            lease_owner=owner,
            started_at=sa.func.coalesce(t.c.started_at, now),
            next_attempt_at=None,
            updated_at=now,
        )
        .returning(
            t.c.type,
            t.c.payload,
            t.c.attempts,
            t.c.max_attempts,
            t.c.correlation_id,
            t.c.priority,
            t.c.redrive_count,
        )
    )
    row = conn.execute(stmt).first()
    if row is None:
        return None
    return Claim(
        task_id=task_id,
        created_at=created_at_of(task_id),
        type=row.type,
        payload=row.payload,
        attempt=row.attempts,
        max_attempts=row.max_attempts,
        lease_token=token,
        correlation_id=row.correlation_id,
        priority=row.priority,
        redrive_count=row.redrive_count,
    )


def task_state(conn: sa.Connection, task_id: uuid.UUID) -> TaskState | None:
    """Read the state of a task that could not be claimed; None when no such row exists."""
    row = conn.execute(
        sa.select(
            t.c.status,
            t.c.attempts,
            t.c.max_attempts,
            t.c.lease_token,
            t.c.lease_owner,
            sa.func.coalesce(t.c.lease_expires_at < sa.func.now(), False).label("expired"),
            t.c.cancel_requested,
        ).where(_key(task_id))
    ).first()
    if row is None:
        return None
    return TaskState(
        row.status,
        row.attempts,
        row.max_attempts,
        row.lease_token,
        row.lease_owner,
        bool(row.expired),
        row.cancel_requested,
    )


def cancel_if_requested(
    conn: sa.Connection, task_id: uuid.UUID, orphan_token: uuid.UUID | None = None
) -> bool:
    """Move a task whose cancellation was requested to CANCELLED, unless an attempt is live.

    `orphan_token` names a PROCESSING attempt the caller knows is dead; it may be cancelled too.
    """
    cancellable: sa.ColumnElement[bool] = t.c.status.in_(CLAIMABLE)
    if orphan_token is not None:
        cancellable = sa.or_(
            cancellable,
            sa.and_(t.c.status == TaskStatus.PROCESSING.value, t.c.lease_token == orphan_token),
        )
    stmt = (
        sa.update(t)
        .where(_key(task_id), t.c.cancel_requested, cancellable)
        .values(**cancelled_values())
    )
    return conn.execute(stmt).rowcount == 1


def complete_task(
    conn: sa.Connection, claim: Claim, result: dict[str, Any] | None, effect: dict[str, Any]
) -> bool:
    """Store COMPLETED and the handler's side effect; False when the lease was lost."""
    stmt = (
        sa.update(t)
        .where(_key(claim.task_id), t.c.lease_token == claim.lease_token)
        .where(t.c.status == TaskStatus.PROCESSING.value)
        .values(
            status=TaskStatus.COMPLETED.value,
            result=result,
            finished_at=sa.func.now(),
            updated_at=sa.func.now(),
            lease_token=None,
            lease_expires_at=None,
            lease_owner=None,
            last_error=None,
            error_type=None,
        )
    )
    if conn.execute(stmt).rowcount != 1:
        return False
    conn.execute(
        sa.insert(task_effects_table).values(
            task_id=claim.task_id, attempt=claim.attempt, effect=effect
        )
    )
    return True


def schedule_retry(
    conn: sa.Connection, claim: Claim, error: str, error_type: str, delay_s: float
) -> TaskStatus | None:
    """Store RETRYING with the error and the next attempt's time; None when the lease was lost.

    A task whose cancellation was requested during the attempt becomes CANCELLED instead, so
    the next attempt never starts.
    """
    cancelled = TaskStatus.CANCELLED.value
    stmt = (
        sa.update(t)
        .where(_key(claim.task_id), t.c.lease_token == claim.lease_token)
        .where(t.c.status == TaskStatus.PROCESSING.value)
        .values(
            status=sa.case((t.c.cancel_requested, cancelled), else_=TaskStatus.RETRYING.value),
            last_error=error,
            error_type=error_type,
            next_attempt_at=sa.case(
                (t.c.cancel_requested, None), else_=sa.func.now() + timedelta(seconds=delay_s)
            ),
            finished_at=sa.case((t.c.cancel_requested, sa.func.now()), else_=None),
            updated_at=sa.func.now(),
            lease_token=None,
            lease_expires_at=None,
            lease_owner=None,
        )
        .returning(t.c.status)
    )
    row = conn.execute(stmt).first()
    return TaskStatus(row.status) if row else None


def fail_task(
    conn: sa.Connection,
    task_id: uuid.UUID,
    lease_token: uuid.UUID | None,
    error: str,
    error_type: str,
) -> bool:
    """Store FAILED and queue the DLT record in the same transaction; False when fenced out.

    `lease_token` is the attempt's token; the reconciler passes the token it read from a row
    whose lease expired, so a concurrent new attempt still wins.
    """
    fence = t.c.lease_token == lease_token if lease_token else t.c.lease_token.is_(None)
    stmt = (
        sa.update(t)
        .where(_key(task_id), fence)
        .where(t.c.status.in_([*CLAIMABLE, TaskStatus.PROCESSING.value]))
        .values(
            status=TaskStatus.FAILED.value,
            last_error=error,
            error_type=error_type,
            finished_at=sa.func.now(),
            updated_at=sa.func.now(),
            lease_token=None,
            lease_expires_at=None,
            lease_owner=None,
            next_attempt_at=None,
        )
        .returning(t)
    )
    row = conn.execute(stmt).mappings().first()
    if row is None:
        return False
    outbox.enqueue(conn, [outbox.dlt_row(dict(row))])
    return True
