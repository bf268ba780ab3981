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
from db.direct import Connection, fetch_one
from db.ids import created_at_of
from db.models import TaskStatus, status_in, tasks_table

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


# The claim as one statement, written for the driver so the worker runs it on its direct
# connection (db/direct.py) and a SQLAlchemy transaction runs the same text. The UPDATE starts
# the attempt; from its RETURNING the attempt's history row is written and earlier attempts
# left running are marked lost. A RETRYING task is claimable only once its backoff is over: a
# duplicate delivery (a Kafka replay, a message Redis restored, a re-dispatch) must not spend
# the next attempt early, during exactly the outage the backoff waits out. A PROCESSING row
# is claimable when its lease ran out (its worker died mid-attempt) or when the caller saw its
# owner die and names its token (`takeover`, NULL otherwise: NULL never equals a token). The
# status test is wrapped in `IS TRUE` so the plan looks the row up by key (db/models.py,
# `status_in`, says why).
#
# The claim commits asynchronously (`set_config(..., true)` lasts only its own transaction): it
# does not wait for its WAL to reach the disk, which took one of the two WAL flushes per task,
# about 0.1 ms of PostgreSQL's CPU and 0.1 ms of the replica's per task (docs/capacity.md). A
# crash of PostgreSQL can only lose a claim younger than the WAL writer's delay (at most
# 3 x `wal_writer_delay`), and only with nothing that read it: any later synchronous commit,
# the completion's first, flushes the WAL up to itself, the claim's included. A lost claim is a
# task back in its state before the attempt, which the fence treats as a lost worker: the
# attempt's completion is refused, and the reconciler or a redelivery runs it again. So the
# outcome is still recorded once, and only a handler that ran in that window may run twice, as
# after a crash of its worker. A clean stop or restart of PostgreSQL flushes everything.
CLAIM_SQL = """
    WITH claimed AS (
        UPDATE tasks SET status = 'PROCESSING', attempts = attempts + 1,
            lease_token = %(token)s, lease_expires_at = now() + %(lease)s,
            lease_owner = %(owner)s, started_at = coalesce(started_at, now()),
            next_attempt_at = NULL, updated_at = now()
        WHERE id = %(task_id)s AND created_at = %(created_at)s
            AND (status = 'PENDING'
                OR (status = 'RETRYING' AND (next_attempt_at IS NULL
                    OR next_attempt_at <= now() + %(tolerance)s))
                OR (status = 'PROCESSING' AND (lease_expires_at < now()
                    OR lease_token = %(takeover)s))) IS TRUE
            AND attempts < max_attempts AND NOT cancel_requested
        RETURNING id, created_at, type, payload, attempts, max_attempts, correlation_id,
            priority, redrive_count
    ), attempt_started AS (
        INSERT INTO task_attempts (task_id, task_created_at, run, attempt, worker, started_at)
        SELECT id, created_at, redrive_count, attempts, %(owner)s, now() FROM claimed
        RETURNING attempt
    ), attempt_lost AS (
        UPDATE task_attempts a SET finished_at = now(), outcome = 'lost',
            duration_s = extract(epoch FROM now() - a.started_at)
        FROM claimed
        WHERE a.task_id = claimed.id AND a.task_created_at = %(created_at)s
            AND (a.run, a.attempt) < (claimed.redrive_count, claimed.attempts)
            AND a.outcome = 'running'
        RETURNING a.attempt
    )
    SELECT type, payload, attempts, max_attempts, correlation_id, priority, redrive_count,
        set_config('synchronous_commit', 'off', true)
    FROM claimed
"""


def claim_task(
    conn: Connection,
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
        "task_id": task_id,
        "created_at": created_at,
        "token": token,
        "lease": timedelta(seconds=lease_s),
        "owner": owner,
        "tolerance": SCHEDULE_TOLERANCE,
        "takeover": takeover_token,
    }
    row = fetch_one(conn, CLAIM_SQL, params)
    if row is None:
        return None
    task_type, payload, attempt, max_attempts, correlation_id, priority, redrive_count, _ = row
    return Claim(
        task_id=task_id,
        created_at=created_at,
        type=task_type,
        payload=payload,
        attempt=attempt,
        max_attempts=max_attempts,
        lease_token=token,
        correlation_id=correlation_id,
        priority=priority,
        redrive_count=redrive_count,
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
        .where(status_in(TaskStatus.PROCESSING.value))
        .values(lease_expires_at=sa.func.now() + timedelta(seconds=lease_s))
    )
    return conn.execute(stmt).rowcount == 1


def cancel_if_requested(
    conn: sa.Connection, task_id: uuid.UUID, orphan_token: uuid.UUID | None = None
) -> bool:
    """Move a task whose cancellation was requested to CANCELLED, unless an attempt is live.

    `orphan_token` names a PROCESSING attempt the caller knows is dead; it may be cancelled too.
    """
    cancellable: sa.ColumnElement[bool] = status_in(*CLAIMABLE)
    if orphan_token is not None:
        cancellable = sa.or_(
            cancellable,
            sa.and_(status_in(TaskStatus.PROCESSING.value), t.c.lease_token == orphan_token),
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
