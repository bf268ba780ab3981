"""The execute task: lock, claim an attempt, run the handler, record the outcome."""

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeAlias, TypeVar

import redis.exceptions
import sqlalchemy as sa
import sqlalchemy.exc
from celery import Celery, Task
from celery.exceptions import SoftTimeLimitExceeded

from celery_tasks import metrics
from celery_tasks.attempt_lock import release, take_lock
from celery_tasks.backoff import retry_delay_s
from celery_tasks.errors import HandlerTimeoutError, RetryableError
from celery_tasks.lease import LeaseKeeper
from celery_tasks.names import EXECUTE_TASK
from celery_tasks.ownership import lock_token, owner_id
from celery_tasks.registry import HandlerContext, Registry
from celery_tasks.runtime import WorkerResources
from celery_tasks.settle import Early, durable, settle
from db.errors import DatabaseUnavailableError
from db.execution import Claim, claim_task
from db.ids import parse_task_id
from db.models import TaskStatus
from db.outcomes import complete_task, fail_task, schedule_retry
from taskkit import logsetup

log = logging.getLogger(__name__)

# Failures of our own clients around the handler (claim, final write, lock) that a later
# attempt can overcome; Celery's autoretry_for retries the message on these.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    RetryableError,
    DatabaseUnavailableError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)
# Handler exceptions that say nothing about the task itself, so another attempt may succeed.
RETRYABLE_HANDLER_ERRORS: tuple[type[BaseException], ...] = (
    RetryableError,
    ConnectionError,
    TimeoutError,
)

MAX_ERROR_CHARS = 2000
AnyTask: TypeAlias = "Task[Any, Any]"
T = TypeVar("T")


def error_text(exc: BaseException) -> str:
    """The error as stored on the task: type and message, bounded in length."""
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


class Executor:
    """Runs one delivery of the execute task against this process's resources."""

    def __init__(self, resources: WorkerResources, handlers: Registry) -> None:
        self.resources = resources
        self.handlers = handlers
        self.settings = resources.settings
        self.keeper = LeaseKeeper(
            lambda: resources.engine, self.settings.lease_s, self.settings.heartbeat_interval_s
        )

    def deliver(self, task: AnyTask, task_id: str) -> dict[str, Any]:
        """Handle one message: skip it unless this worker gets the lock and the claim."""
        parsed = parse_task_id(task_id)
        if parsed is None:
            # A message with no valid id cannot name a row; there is nothing to run or record.
            log.error("execute message with invalid task id %r dropped", task_id)
            metrics.TASK_DUPLICATES.labels("invalid_id").inc()
            return {"status": "invalid"}
        # Short whatever the handler's time limit: the lease keeper renews it while it runs.
        lease_s = self.settings.lease_s
        owner = owner_id()
        name = f"taskservice:lock:{parsed}"
        redis_client = self.resources.redis
        # Not thread-local: the lease keeper's thread extends the lock this thread acquired.
        lock = redis_client.lock(name, timeout=lease_s, blocking=False, thread_local=False)
        token = lock_token(owner, uuid.uuid4().hex)
        if not take_lock(redis_client, lock, name, token):
            log.info("task %s is held by another delivery (running or just done); ignored", parsed)
            metrics.TASK_DUPLICATES.labels("locked").inc()
            return {"status": "locked"}
        try:
            outcome = self.attempt(task, parsed, lease_s, owner, lock)
        except BaseException:
            release(lock, parsed)
            raise
        # A COMPLETED task keeps its lock until the lock expires (lease_s): nothing may run it
        # again, so releasing it would only cost a Redis round trip, about 13 % of a worker
        # child's CPU per task (thread_time around the release, under a drain). A duplicate
        # delivered meanwhile is dropped at the lock, counted as `locked`; after it, at the
        # claim. Every other outcome releases at once: a retry or a re-drive must find it free.
        if outcome.get("status") != "completed":
            release(lock, parsed)
        return outcome

    def attempt(
        self, task: AnyTask, task_id: uuid.UUID, lease_s: float, owner: str, lock: Any
    ) -> dict[str, Any]:
        """Claim an attempt, run the handler with its lease kept alive, record the outcome."""
        claim = claim_task(self.resources.direct, task_id, lease_s, owner)
        if claim is None:
            with self.resources.engine.begin() as conn:
                settled = settle(conn, task_id, lease_s, owner)
            if isinstance(settled, Early):
                raise task.retry(countdown=settled.due_in_s, max_retries=None)
            if not isinstance(settled, Claim):
                return settled
            claim = settled
        with self.keeper.keep(task_id, claim.lease_token, lock):
            return self.run(task, claim)

    def run(self, task: AnyTask, claim: Claim) -> dict[str, Any]:
        """Run the claimed attempt's handler and record its outcome."""
        # The stored correlation id covers messages that lost their header (reconciler, retry).
        logsetup.bind(
            task_type=claim.type, attempt=claim.attempt, correlation_id=claim.correlation_id
        )
        # DEBUG: the attempt history records each start durably (task_attempts: worker, time),
        # and the attempt's one INFO line, written as it ends, repeats what this one says. At
        # INFO it cost about 80 us of a worker child's CPU per task under load (docs/capacity.md).
        log.debug(
            "task %s attempt %d/%d started (%s)",
            claim.task_id,
            claim.attempt,
            claim.max_attempts,
            claim.type,
        )
        started = time.perf_counter()
        try:
            result = self.run_handler(claim)
        except SoftTimeLimitExceeded:
            timeout = HandlerTimeoutError("handler exceeded its soft time limit")
            return self.on_error(task, claim, timeout, retryable=True, started=started)
        except RETRYABLE_HANDLER_ERRORS as err:
            return self.on_error(task, claim, err, retryable=True, started=started)
        except Exception as err:  # noqa: BLE001 - any other handler error is permanent.
            return self.on_error(task, claim, err, retryable=False, started=started)
        elapsed = time.perf_counter() - started
        effect = {"result": result, "attempt": claim.attempt}
        direct = self.resources.direct
        stored = self.durably(lambda: complete_task(direct, claim, result, effect), claim)
        if not stored:
            return self.stale(claim)
        metrics.TASK_PROCESSING_TIME.labels(claim.type, "completed").observe(elapsed)
        log.info(
            "task %s attempt %d/%d completed in %.3fs (%s)",
            claim.task_id,
            claim.attempt,
            claim.max_attempts,
            elapsed,
            claim.type,
        )
        return {"status": "completed", "attempt": claim.attempt}

    def write(self, change: Callable[[sa.Connection], T], claim: Claim) -> T:
        """One final write of `claim`'s attempt (a transaction), retried through a short
        database outage."""

        def once() -> T:
            with self.resources.engine.begin() as conn:
                return change(conn)

        return self.durably(once, claim)

    def durably(self, write: Callable[[], T], claim: Claim) -> T:
        """`write` of `claim`'s attempt, retried through a short database outage."""
        return durable(write, self.settings.commit_retry_s, f"task {claim.task_id}")

    def run_handler(self, claim: Claim) -> dict[str, Any] | None:
        """Validate the payload and run the task type's handler."""
        handler = self.handlers.get(claim.type)
        if handler.validate is not None:
            handler.validate(claim.payload)
        ctx = HandlerContext(
            str(claim.task_id),
            claim.attempt,
            claim.max_attempts,
            claim.correlation_id,
            fault_injection=self.settings.fault_injection,
            redrive_count=claim.redrive_count,
        )
        return handler.func(claim.payload, ctx)

    def on_error(
        self, task: AnyTask, claim: Claim, exc: BaseException, *, retryable: bool, started: float
    ) -> dict[str, Any]:
        """Record a failed attempt: RETRYING while attempts remain, else FAILED plus DLT."""
        elapsed = time.perf_counter() - started
        error, error_type = error_text(exc), type(exc).__name__
        if retryable and not claim.is_last_attempt:
            delay_s = retry_delay_s(
                claim.attempt, self.settings.retry_backoff_s, self.settings.retry_backoff_max_s
            )
            status = self.write(
                lambda conn: schedule_retry(conn, claim, error, error_type, delay_s), claim
            )
            if status is None:
                return self.stale(claim)
            if status is TaskStatus.CANCELLED:
                log.info("task %s cancelled after attempt %d failed", claim.task_id, claim.attempt)
                return {"status": "cancelled", "attempt": claim.attempt}
            metrics.TASK_PROCESSING_TIME.labels(claim.type, "retried").observe(elapsed)
            metrics.TASK_RETRY_COUNT.labels(claim.type).inc()
            log.warning(
                "task %s attempt %d/%d failed (%s); retrying in %.1fs",
                claim.task_id,
                claim.attempt,
                claim.max_attempts,
                error,
                delay_s,
            )
            # The delay comes from the attempt count in PostgreSQL (see backoff.py); the
            # message's own retry counter restarts whenever a fresh message is sent.
            raise task.retry(exc=exc, countdown=delay_s, max_retries=claim.max_attempts)
        stored = self.write(
            lambda conn: fail_task(conn, claim.task_id, claim.lease_token, error, error_type),
            claim,
        )
        if not stored:
            return self.stale(claim)
        metrics.TASK_PROCESSING_TIME.labels(claim.type, "failed").observe(elapsed)
        metrics.TASK_FAILURES.labels(claim.type, error_type).inc()
        metrics.DLT_PUBLISHES.labels(claim.type).inc()
        log.error(
            "task %s failed on attempt %d/%d (%s); queued for the dead-letter topic",
            claim.task_id,
            claim.attempt,
            claim.max_attempts,
            error,
        )
        return {"status": "failed", "attempt": claim.attempt}

    def stale(self, claim: Claim) -> dict[str, Any]:
        """A final write was fenced out: a newer attempt owns the task now."""
        metrics.TASK_STALE_ATTEMPTS.inc()
        log.warning(
            "task %s attempt %d lost its lease before finishing; outcome discarded",
            claim.task_id,
            claim.attempt,
        )
        return {"status": "stale", "attempt": claim.attempt}


def outcome_text(outcome: dict[str, Any]) -> str:
    """A delivery's outcome as the execute task returns it: "completed (attempt 1)".

    Only Flower sees it (results are ignored; PostgreSQL holds them), in the task-succeeded
    event, for which Celery formats every return value with its `saferepr`: 19 us of CPU for
    the outcome's dict against 2 for this text, alone, in every worker child for every task.
    """
    attempt = outcome.get("attempt")
    status = str(outcome.get("status"))
    return status if attempt is None else f"{status} (attempt {attempt})"


def register_execute(app: Celery, executor: Executor) -> AnyTask:
    """Register the execute task on `app`, delegating each delivery to `executor`."""
    settings = executor.settings

    @app.task(  # type: ignore[untyped-decorator]
        name=EXECUTE_TASK,
        bind=True,
        autoretry_for=TRANSIENT_ERRORS,
        retry_backoff=settings.retry_backoff_s,
        retry_backoff_max=settings.retry_backoff_max_s,
        retry_jitter=True,
        max_retries=settings.transient_max_retries,
        acks_late=True,
    )
    def execute(self: AnyTask, task_id: str) -> str:
        return outcome_text(executor.deliver(self, task_id))

    return execute
