"""What a delivery that could not claim its task does instead, and final writes that outlive a
short database outage."""

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa

from celery_tasks import metrics
from celery_tasks.ownership import is_dead_local_owner
from db.errors import DatabaseUnavailableError
from db.execution import Claim, cancel_if_requested, claim_task, task_state
from db.models import TaskStatus
from db.outcomes import WORKER_LOST, fail_task

log = logging.getLogger(__name__)

T = TypeVar("T")
# Errors of a database that is restarting or unreachable; the write is tried again.
DATABASE_DOWN = (sa.exc.OperationalError, sa.exc.InterfaceError, DatabaseUnavailableError)


@dataclass(frozen=True)
class Early:
    """The task is RETRYING and its next attempt is due in `due_in_s`: the delivery waits."""

    due_in_s: float


def settle(
    conn: sa.Connection, task_id: uuid.UUID, lease_s: float, owner: str
) -> Claim | Early | dict[str, Any]:
    """Decide what a delivery that could not claim the task does instead.

    Cancels a task whose cancellation is pending, takes over or fails an attempt whose worker
    died in this process table, defers a delivery that came before the task's next attempt is
    due, and otherwise reports a duplicate delivery.
    """
    state = task_state(conn, task_id)
    if state is None:
        log.error("task %s does not exist; message dropped", task_id)
        metrics.TASK_DUPLICATES.labels("unknown_task").inc()
        return {"status": "unknown"}
    orphan = state.status == TaskStatus.PROCESSING and (
        state.lease_expired or is_dead_local_owner(state.lease_owner)
    )
    orphan_token = state.lease_token if orphan else None
    if state.cancel_requested and cancel_if_requested(conn, task_id, orphan_token):
        log.info("task %s cancelled before its next attempt", task_id)
        return {"status": "cancelled"}
    if orphan and state.attempts >= state.max_attempts:
        error = "the worker running the last attempt died before recording an outcome"
        if fail_task(conn, task_id, state.lease_token, error, WORKER_LOST):
            metrics.TASK_FAILURES.labels("unknown", WORKER_LOST).inc()
            log.error("task %s failed: %s; queued for the dead-letter topic", task_id, error)
            return {"status": "failed", "attempt": state.attempts}
    elif orphan:
        log.warning(
            "task %s: taking over the attempt of dead worker %s", task_id, state.lease_owner
        )
        claim = claim_task(conn, task_id, lease_s, owner, takeover_token=state.lease_token)
        if claim is not None:
            return claim
    if state.status == TaskStatus.RETRYING and state.due_in_s > 0:
        # A copy that came early (a replay, a restored or re-published message) waits for the
        # backoff instead of spending the next attempt now; counted, since it is a duplicate.
        log.info(
            "task %s delivered %.1fs before its next attempt; deferred", task_id, state.due_in_s
        )
        metrics.TASK_DUPLICATES.labels("early").inc()
        return Early(state.due_in_s)
    log.info("task %s is not claimable (%s); duplicate skipped", task_id, state.status)
    metrics.TASK_DUPLICATES.labels("not_claimable").inc()
    return {"status": "duplicate"}


def durable(write: Callable[[], T], budget_s: float, what: str) -> T:
    """Run `write` (one transaction), retrying while the database does not answer.

    A handler that succeeded should not run again because the commit of its result met a
    restarting PostgreSQL: the lease keeper keeps the attempt's lease while the database is
    back within the lease, so a retried write still holds the fence and lands once.
    """
    deadline = time.monotonic() + budget_s
    pause_s = 0.25
    while True:
        try:
            return write()
        except DATABASE_DOWN as err:
            if time.monotonic() + pause_s > deadline:
                raise
            log.warning("%s: database unavailable (%s); retrying in %.2fs", what, err, pause_s)
            time.sleep(pause_s)
            pause_s = min(pause_s * 2, 5.0)
