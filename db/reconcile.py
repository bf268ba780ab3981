"""Find tasks stuck in an active status and put them back on their way.

See docs/architecture.md, invariant 2.

Every query filters on the active statuses, so it runs on the partial index whatever the size
of the history. Rows are locked `FOR UPDATE SKIP LOCKED` and updated so they no longer match,
which makes concurrent reconcilers on several machines safe.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from db import outbox
from db.cancel import cancelled_values
from db.execution import fail_task
from db.models import TaskStatus, outbox_table, tasks_table
from db.topics import TASKS_TOPIC

t = tasks_table
o = outbox_table

WORKER_LOST = "WorkerLostError"


@dataclass
class ReconcileReport:
    """How many tasks each rule moved in one run."""

    pending_redispatched: int = 0
    retrying_redispatched: int = 0
    processing_recovered: int = 0
    exhausted_failed: int = 0
    cancelled: int = 0

    def saturated(self, batch: int) -> bool:
        """Whether some rule hit the batch size, so more rows may be waiting."""
        return any(count >= batch for count in vars(self).values())

    def add(self, other: "ReconcileReport") -> None:
        """Add another run's counts to this one."""
        for name, count in vars(other).items():
            setattr(self, name, getattr(self, name) + count)

    @property
    def total(self) -> int:
        """All tasks the run touched."""
        return (
            self.pending_redispatched
            + self.retrying_redispatched
            + self.processing_recovered
            + self.exhausted_failed
            + self.cancelled
        )


def _redispatch_row(task: Any) -> dict[str, Any]:
    return outbox.task_row(task.id, task.created_at, task.type, task.priority, task.correlation_id)


def _locked(where: sa.ColumnElement[bool], batch: int) -> sa.Select[Any]:
    return (
        sa.select(
            t.c.id,
            t.c.created_at,
            t.c.type,
            t.c.priority,
            t.c.correlation_id,
            t.c.attempts,
            t.c.max_attempts,
            t.c.lease_token,
        )
        .where(where)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )


def reconcile(
    conn: sa.Connection, *, pending_after_s: float, retrying_grace_s: float, batch: int
) -> ReconcileReport:
    """Run every rule once in the caller's transaction; returns what it did."""
    report = ReconcileReport()
    now = sa.func.now()
    redispatch: list[dict[str, Any]] = []

    # A cancellation recorded while an attempt ran is honoured before any next attempt: once
    # that attempt is over (RETRYING) or its worker is gone (lease expired), the task ends here.
    cancellable = sa.and_(
        t.c.cancel_requested,
        sa.or_(
            t.c.status.in_([TaskStatus.PENDING.value, TaskStatus.RETRYING.value]),
            sa.and_(t.c.status == TaskStatus.PROCESSING.value, t.c.lease_expires_at < now),
        ),
    )
    to_cancel = conn.execute(_locked(cancellable, batch)).all()
    if to_cancel:
        conn.execute(
            sa.update(t)
            .where(sa.tuple_(t.c.id, t.c.created_at).in_([(r.id, r.created_at) for r in to_cancel]))
            .values(**cancelled_values())
        )
        report.cancelled = len(to_cancel)

    expired = conn.execute(
        _locked(
            sa.and_(t.c.status == TaskStatus.PROCESSING.value, t.c.lease_expires_at < now), batch
        )
    ).all()
    for row in expired:
        error = "the worker running this attempt was lost before it recorded an outcome"
        if row.attempts >= row.max_attempts:
            if fail_task(conn, row.id, row.lease_token, error, WORKER_LOST):
                report.exhausted_failed += 1
            continue
        conn.execute(
            sa.update(t)
            .where(t.c.id == row.id, t.c.created_at == row.created_at)
            .values(
                status=TaskStatus.RETRYING.value,
                next_attempt_at=now,
                updated_at=now,
                lease_token=None,
                lease_expires_at=None,
                lease_owner=None,
                last_error=error,
                error_type=WORKER_LOST,
            )
        )
        redispatch.append(_redispatch_row(row))
        report.processing_recovered += 1

    # A PENDING task with no outbox row was published; if it is still PENDING long after, its
    # Celery message was lost (Redis flushed or failed over) and it must be sent again.
    no_outbox = ~sa.exists().where(o.c.topic == TASKS_TOPIC, o.c.key == sa.cast(t.c.id, sa.Text))
    pending = conn.execute(
        _locked(
            sa.and_(
                t.c.status == TaskStatus.PENDING.value,
                t.c.updated_at < now - timedelta(seconds=pending_after_s),
                no_outbox,
            ),
            batch,
        )
    ).all()
    for row in pending:
        redispatch.append(_redispatch_row(row))
    if pending:
        conn.execute(
            sa.update(t)
            .where(sa.tuple_(t.c.id, t.c.created_at).in_([(r.id, r.created_at) for r in pending]))
            .values(updated_at=now)
        )
        report.pending_redispatched = len(pending)

    overdue = conn.execute(
        _locked(
            sa.and_(
                t.c.status == TaskStatus.RETRYING.value,
                t.c.next_attempt_at < now - timedelta(seconds=retrying_grace_s),
                no_outbox,
            ),
            batch,
        )
    ).all()
    for row in overdue:
        redispatch.append(_redispatch_row(row))
    if overdue:
        conn.execute(
            sa.update(t)
            .where(sa.tuple_(t.c.id, t.c.created_at).in_([(r.id, r.created_at) for r in overdue]))
            .values(updated_at=now, next_attempt_at=now)
        )
        report.retrying_redispatched = len(overdue)

    outbox.enqueue(conn, redispatch)
    return report
