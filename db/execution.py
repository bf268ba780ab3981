"""The worker's claim of an attempt, its lease, and what a delivery that cannot claim reads.

The claim is a compare-and-set that increments `attempts` and sets a fresh lease token; every
finishing write (db/outcomes.py) is fenced on that token, so an attempt whose lease was taken
over can never overwrite the newer attempt's outcome (docs/architecture.md, "Execution
guarantees").
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from db import attempts, webhooks
from db.cancel import cancelled_values
from db.ids import created_at_of
from db.models import TaskStatus, tasks_table

t = tasks_table

CLAIMABLE = (TaskStatus.PENDING.value, TaskStatus.RETRYING.value)
# A retry's Celery ETA is computed on the worker's clock and `next_attempt_at` on the database's;
# a second of skew must not turn every on-time delivery into an early one.
SCHEDULE_TOLERANCE = timedelta(seconds=1)


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


def key_of(task_id: uuid.UUID) -> sa.ColumnElement[bool]:
    """The condition that names one task row (and its partition, through the id's time)."""
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
    # Seconds until a RETRYING task's next attempt is due (0 when due or not RETRYING).
    due_in_s: float = 0.0


def _claim_statement(takeover: bool) -> sa.Select[Any]:
    """The claim, built once: a worker claims every task it runs, and building the expression
    anew each time cost as much Python as executing it. One statement: the UPDATE, the new
    attempt's history row, and earlier attempts left running marked lost."""
    now = sa.func.now()
    processing = t.c.status == TaskStatus.PROCESSING.value
    # A PROCESSING row whose lease ran out belongs to a worker that died mid-attempt.
    orphaned: sa.ColumnElement[bool] = t.c.lease_expires_at < now
    if takeover:
        orphaned = sa.or_(orphaned, t.c.lease_token == sa.bindparam("takeover_token"))
    # A RETRYING task is claimable only once its backoff is over: a duplicate delivery (a
    # Kafka replay, a message Redis restored, a re-dispatch) must not spend the next attempt
    # early, during exactly the outage the backoff waits out.
    due = sa.or_(
        t.c.status == TaskStatus.PENDING.value,
        sa.and_(
            t.c.status == TaskStatus.RETRYING.value,
            sa.or_(t.c.next_attempt_at.is_(None), t.c.next_attempt_at <= now + SCHEDULE_TOLERANCE),
        ),
    )
    claimable = sa.or_(due, sa.and_(processing, orphaned))
    claimed = (
        sa.update(t)
        .where(
            t.c.id == sa.bindparam("b_task_id"),
            t.c.created_at == sa.bindparam("b_created_at"),
            claimable,
            t.c.attempts < t.c.max_attempts,
            ~t.c.cancel_requested,
        )
        .values(
            status=TaskStatus.PROCESSING.value,
            attempts=t.c.attempts + 1,
            lease_token=sa.bindparam("token"),
            lease_expires_at=now + sa.bindparam("lease", type_=sa.Interval),
            lease_owner=sa.bindparam("owner"),
            started_at=sa.func.coalesce(t.c.started_at, now),
            next_attempt_at=None,
            updated_at=now,
        )
        .returning(
            t.c.id,
            t.c.created_at,
            t.c.type,
            t.c.payload,
            t.c.attempts,
            t.c.max_attempts,
            t.c.correlation_id,
            t.c.priority,
            t.c.redrive_count,
        )
        .cte("claimed")
    )
    return sa.select(
        claimed.c.type,
        claimed.c.payload,
        claimed.c.attempts,
        claimed.c.max_attempts,
        claimed.c.correlation_id,
        claimed.c.priority,
        claimed.c.redrive_count,
    ).add_cte(
        attempts.start_cte(claimed, sa.bindparam("owner")), attempts.lose_earlier_cte(claimed)
    )


_CLAIM = _claim_statement(takeover=False)
_TAKEOVER = _claim_statement(takeover=True)


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
    token = uuid.uuid4()
    created_at = created_at_of(task_id)
    params: dict[str, Any] = {
        "b_task_id": task_id,
        "b_created_at": created_at,
        "token": token,
        "lease": timedelta(seconds=lease_s),
        "owner": owner,
    }
    stmt = _CLAIM
    if takeover_token is not None:
        stmt, params["takeover_token"] = _TAKEOVER, takeover_token
    row = conn.execute(stmt, params).first()
    if row is None:
        return None
    return Claim(
        task_id=task_id,
        created_at=created_at,
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
            sa.case(
                (
                    t.c.status == TaskStatus.RETRYING.value,
                    sa.func.greatest(
                        sa.func.extract("epoch", t.c.next_attempt_at - sa.func.now()), 0
                    ),
                ),
                else_=0,
            ).label("due_in_s"),
        ).where(key_of(task_id))
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
        float(row.due_in_s or 0),
    )


def renew_lease(
    conn: sa.Connection, task_id: uuid.UUID, lease_token: uuid.UUID, lease_s: float
) -> bool:
    """Push the running attempt's lease `lease_s` into the future; False when it was lost."""
    stmt = (
        sa.update(t)
        .where(key_of(task_id), t.c.lease_token == lease_token)
        .where(t.c.status == TaskStatus.PROCESSING.value)
        .values(lease_expires_at=sa.func.now() + timedelta(seconds=lease_s))
    )
    return conn.execute(stmt).rowcount == 1


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
        .where(key_of(task_id), t.c.cancel_requested, cancellable)
        .values(**cancelled_values())
    )
    if conn.execute(stmt).rowcount != 1:
        return False
    # The attempt of a dead worker, if it was one, ended with its worker.
    attempts.finish(conn, task_id, "lost")
    webhooks.enqueue_for(conn, [(task_id, created_at_of(task_id))])
    return True
