"""Find tasks stuck in an active status and put them back on their way, without ever
re-publishing a task that is merely waiting in a queue.

See docs/architecture.md, invariant 2. PostgreSQL is the truth, but a PENDING or RETRYING task
whose `tasks` record was published is somewhere on its way: in Kafka behind other records, in a
Celery queue behind other messages, reserved by a worker, or held by one until its retry is due.
Publishing it again because it is old only adds a copy to the same queue, which then takes longer
to drain, which makes more tasks old: the queue feeds itself. So each rule here acts only on
evidence that the work is really gone:

- an attempt whose lease stopped being renewed (the worker renews it every few seconds,
  celery_tasks/lease.py) has lost its worker: RETRYING at once, or FAILED when it was the last;
- a change of the broker's epoch (db/epoch.py) means the broker lost its data: every task
  published before that moment is published again, once;
- a cancellation waiting for its attempt to end is honoured;
- a waiting task whose message is nowhere (its Kafka record handed to Celery, no message for
  it in its queue or held by a worker: celery_tasks/vanished.py) was lost on its way, as when a
  worker node dies between taking a message from Redis and recording it as unacknowledged;
- anything else that waits far longer than Redis would ever hold a message for a live
  consumer (`lost_after_s`, beyond the visibility timeout after which Redis itself restores the
  messages of a dead worker) is published again, and each further time only after twice as long
  (`redispatches`), so even a queue that never drains gets a bounded number of copies.

Every query filters on the active statuses, so it runs on the partial index whatever the size of
the history. Rows are locked `FOR UPDATE SKIP LOCKED` and updated so they no longer match, which
makes concurrent reconcilers on several machines safe.
"""

import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from db import attempts, epoch, outbox, webhooks
from db.cancel import cancelled_values
from db.ids import created_at_of
from db.models import TaskStatus, outbox_table, tasks_table
from db.outcomes import WORKER_LOST, fail_task
from db.topics import TASKS_TOPIC

t = tasks_table
o = outbox_table

LOST_ERROR = "the worker running this attempt was lost before it recorded an outcome"
# The per-task backoff of the last rule doubles up to this many times (2^10 x lost_after_s).
MAX_BACKOFF_DOUBLINGS = 10
WAITING = (TaskStatus.PENDING.value, TaskStatus.RETRYING.value)


@dataclass
class ReconcileReport:
    """How many tasks each rule moved in one run."""

    cancelled: int = 0
    processing_recovered: int = 0
    exhausted_failed: int = 0
    lost_redispatched: int = 0
    pending_redispatched: int = 0
    retrying_redispatched: int = 0
    # Counted by the caller (celery_tasks/orphans.py, vanished.py), which works on the broker.
    orphans_restored: int = 0
    vanished_redispatched: int = 0
    broker_lost: bool = False

    def saturated(self, batch: int) -> bool:
        """Whether some rule hit the batch size, so more rows may be waiting."""
        return any(getattr(self, f.name) >= batch for f in fields(self) if f.name != "broker_lost")

    def add(self, other: "ReconcileReport") -> None:
        """Add another run's counts to this one."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.broker_lost = bool(self.broker_lost or other.broker_lost)

    @property
    def total(self) -> int:
        """All tasks the run touched."""
        return sum(int(getattr(self, f.name)) for f in fields(self) if f.name != "broker_lost")


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


def _keys(rows: list[Any]) -> sa.ColumnElement[bool]:
    return sa.tuple_(t.c.id, t.c.created_at).in_([(r.id, r.created_at) for r in rows])


# A task whose `tasks` record still waits in the outbox has not been published yet.
_PUBLISHED = ~sa.exists().where(o.c.topic == TASKS_TOPIC, o.c.key == sa.cast(t.c.id, sa.Text))


def _cancel_flagged(conn: sa.Connection, batch: int) -> int:
    # A cancellation recorded while an attempt ran is honoured before any next attempt: once
    # that attempt is over (RETRYING) or its worker is gone (lease expired), the task ends here.
    now = sa.func.now()
    cancellable = sa.and_(
        t.c.cancel_requested,
        sa.or_(
            t.c.status.in_(WAITING),
            sa.and_(t.c.status == TaskStatus.PROCESSING.value, t.c.lease_expires_at < now),
        ),
    )
    rows = list(conn.execute(_locked(cancellable, batch)))
    if rows:
        conn.execute(sa.update(t).where(_keys(rows)).values(**cancelled_values()))
        for row in rows:
            attempts.finish(conn, row.id, "lost", WORKER_LOST, LOST_ERROR)
        webhooks.enqueue_for(conn, [(r.id, r.created_at) for r in rows])
    return len(rows)


def _recover_expired(conn: sa.Connection, batch: int, report: ReconcileReport) -> list[Any]:
    now = sa.func.now()
    expired = conn.execute(
        _locked(
            sa.and_(t.c.status == TaskStatus.PROCESSING.value, t.c.lease_expires_at < now), batch
        )
    )
    again = []
    for row in expired:
        if row.attempts >= row.max_attempts:
            if fail_task(conn, row.id, row.lease_token, LOST_ERROR, WORKER_LOST):
                report.exhausted_failed += 1
            continue
        again.append(row)
    if again:
        conn.execute(
            sa.update(t)
            .where(_keys(again))
            .values(
                status=TaskStatus.RETRYING.value,
                next_attempt_at=now,
                updated_at=now,
                lease_token=None,
                lease_expires_at=None,
                lease_owner=None,
                last_error=LOST_ERROR,
                error_type=WORKER_LOST,
            )
        )
        for row in again:
            attempts.finish(conn, row.id, "lost", WORKER_LOST, LOST_ERROR)
        report.processing_recovered = len(again)
    return again


def _after_broker_loss(conn: sa.Connection, since: datetime, batch: int) -> list[Any]:
    """Waiting tasks last published before the broker lost its data."""
    rows = list(
        conn.execute(
            _locked(sa.and_(t.c.status.in_(WAITING), t.c.updated_at < since, _PUBLISHED), batch)
        )
    )
    if rows:
        conn.execute(sa.update(t).where(_keys(rows)).values(updated_at=sa.func.now()))
    return rows


def _stale(statuses: tuple[str, ...], after_s: float) -> sa.ColumnElement[bool]:
    """Published waiting tasks without news for `after_s`, doubled per earlier re-dispatch."""
    base = sa.func.greatest(t.c.updated_at, sa.func.coalesce(t.c.next_attempt_at, t.c.updated_at))
    wait = sa.func.make_interval(
        0,
        0,
        0,
        0,
        0,
        0,
        after_s * sa.func.power(2, sa.func.least(t.c.redispatches, MAX_BACKOFF_DOUBLINGS)),
    )
    return sa.and_(t.c.status.in_(statuses), base < sa.func.now() - wait, _PUBLISHED)


def _redispatched(conn: sa.Connection, where: sa.ColumnElement[bool], batch: int) -> list[Any]:
    """Lock the waiting tasks matching `where` and mark them re-dispatched (the caller queues
    their records): they no longer match until twice as long has passed."""
    rows = list(conn.execute(_locked(where, batch)))
    if rows:
        conn.execute(
            sa.update(t)
            .where(_keys(rows))
            .values(updated_at=sa.func.now(), redispatches=t.c.redispatches + 1)
        )
    return rows


def _long_lost(conn: sa.Connection, status: str, lost_after_s: float, batch: int) -> list[Any]:
    """Waiting tasks that outlived every way a live broker could still be holding them."""
    return _redispatched(conn, _stale((status,), lost_after_s), batch)


def reconcile(
    conn: sa.Connection, *, broker_epoch: str | None, lost_after_s: float, batch: int
) -> ReconcileReport:
    """Run every rule once in the caller's transaction; returns what it did.

    `broker_epoch` is the value the broker holds now (None when it could not be read: the
    broker rule is skipped for this run).
    """
    report = ReconcileReport()
    redispatch: list[Any] = []
    report.cancelled = _cancel_flagged(conn, batch)
    redispatch += _recover_expired(conn, batch, report)
    if broker_epoch is not None:
        report.broker_lost = epoch.observe_epoch(conn, broker_epoch)
        since = epoch.lost_before(conn)
        if since is not None:
            lost = _after_broker_loss(conn, since, batch)
            report.lost_redispatched = len(lost)
            redispatch += lost
            if len(lost) < batch:
                epoch.recovered(conn)
    stale_pending = _long_lost(conn, TaskStatus.PENDING.value, lost_after_s, batch)
    stale_retrying = _long_lost(conn, TaskStatus.RETRYING.value, lost_after_s, batch)
    report.pending_redispatched = len(stale_pending)
    report.retrying_redispatched = len(stale_retrying)
    redispatch += stale_pending + stale_retrying
    outbox.enqueue(conn, [_redispatch_row(r) for r in redispatch])
    return report


def vanishing(conn: sa.Connection, after_s: float, batch: int) -> list[uuid.UUID]:
    """Published waiting tasks without news for `after_s` (doubled per re-dispatch): the
    candidates celery_tasks/vanished.py looks for in Kafka and the broker. Reads only."""
    rows = conn.execute(sa.select(t.c.id).where(_stale(WAITING, after_s)).limit(batch))
    return [row.id for row in rows]


def redispatch_vanished(conn: sa.Connection, task_ids: list[uuid.UUID], after_s: float) -> int:
    """Re-publish those of `task_ids` that still match `vanishing`; returns how many."""
    if not task_ids:
        return 0
    keys = sa.tuple_(t.c.id, t.c.created_at).in_([(i, created_at_of(i)) for i in task_ids])
    rows = _redispatched(conn, sa.and_(keys, _stale(WAITING, after_s)), len(task_ids))
    outbox.enqueue(conn, [_redispatch_row(r) for r in rows])
    return len(rows)


def unclaimed(conn: sa.Connection, task_ids: list[uuid.UUID], after_s: float) -> list[uuid.UUID]:
    """Of `task_ids`, the tasks still waiting for a claim: PENDING, or RETRYING and due for
    `after_s` (celery_tasks/orphans.py: their messages were held by a worker that is gone)."""
    if not task_ids:
        return []
    due_before = sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, after_s)
    rows = conn.execute(
        sa.select(t.c.id).where(
            sa.tuple_(t.c.id, t.c.created_at).in_([(i, created_at_of(i)) for i in task_ids]),
            sa.or_(
                t.c.status == TaskStatus.PENDING.value,
                sa.and_(
                    t.c.status == TaskStatus.RETRYING.value,
                    sa.func.coalesce(t.c.next_attempt_at, t.c.updated_at) < due_before,
                ),
            ),
        )
    )
    return [row.id for row in rows]
