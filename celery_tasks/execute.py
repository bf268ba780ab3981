"""The execute task: lock, claim an attempt, run the handler, record the outcome."""

import logging
import time
import uuid
from typing import Any, TypeAlias

import redis.exceptions
import sqlalchemy.exc
from celery import Celery, Task
from celery.exceptions import SoftTimeLimitExceeded

from celery_tasks import metrics
from celery_tasks.backoff import retry_delay_s
from celery_tasks.errors import HandlerTimeoutError, RetryableError
from celery_tasks.names import EXECUTE_TASK
from celery_tasks.registry import HandlerContext, Registry
from celery_tasks.runtime import WorkerResources
from db.execution import Claim, claim_task, complete_task, fail_task, schedule_retry
from db.ids import parse_task_id

log = logging.getLogger(__name__)

# Failures of our own clients around the handler (claim, final write, lock) that a later
# attempt can overcome; Celery's autoretry_for retries the message on these.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    RetryableError,
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


def error_text(exc: BaseException) -> str:
    """The error as stored on the task: type and message, bounded in length."""
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


class Executor:
    """Runs one delivery of the execute task against this process's resources."""

    def __init__(self, resources: WorkerResources, handlers: Registry) -> None:
        self.resources = resources
        self.handlers = handlers
        self.settings = resources.settings

    def deliver(self, task: AnyTask, task_id: str) -> dict[str, Any]:
        """Handle one message: skip it unless this worker gets the lock and the claim."""
        parsed = parse_task_id(task_id)
        if parsed is None:
            # A message with no valid id cannot name a row; there is nothing to run or record.
            log.error("execute message with invalid task id %r dropped", task_id)
            metrics.TASK_DUPLICATES.labels("invalid_id").inc()
            return {"status": "invalid"}
        timelimit = task.request.timelimit or (None, None)
        hard_limit_s = timelimit[0] or self.settings.default_time_limit_s
        lease_s = float(hard_limit_s + self.settings.lease_grace_s)
        lock = self.resources.redis.lock(
            f"taskservice:lock:{parsed}", timeout=lease_s, blocking=False
        )
        if not lock.acquire():
            log.info("task %s is being run by another worker; duplicate ignored", parsed)
            metrics.TASK_DUPLICATES.labels("locked").inc()
            return {"status": "locked"}
        try:
            return self.attempt(task, parsed, lease_s)
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:
                # The lock expired while the attempt ran; the database fence already decided
                # whether its outcome counted, so this is worth a warning, not a retry.
                log.warning("lock of task %s had expired before release", parsed)

    def attempt(self, task: AnyTask, task_id: uuid.UUID, lease_s: float) -> dict[str, Any]:
        """Claim an attempt, run the handler and record its outcome."""
        with self.resources.engine.begin() as conn:
            claim = claim_task(conn, task_id, lease_s)
        if claim is None:
            log.info("task %s is not claimable (done, running or cancelled); skipped", task_id)
            metrics.TASK_DUPLICATES.labels("not_claimable").inc()
            return {"status": "duplicate"}
        log.info(
            "task %s attempt %d/%d started (%s)",
            task_id,
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
        with self.resources.engine.begin() as conn:
            stored = complete_task(conn, claim, result, effect)
        if not stored:
            return self.stale(claim)
        metrics.TASK_PROCESSING_TIME.labels(claim.type, "completed").observe(elapsed)
        log.info("task %s completed on attempt %d in %.3fs", task_id, claim.attempt, elapsed)
        return {"status": "completed", "attempt": claim.attempt}

    def run_handler(self, claim: Claim) -> dict[str, Any] | None:
        """Validate the payload and run the task type's handler."""
        handler = self.handlers.get(claim.type)
        if handler.validate is not None:
            handler.validate(claim.payload)
        ctx = HandlerContext(
            str(claim.task_id), claim.attempt, claim.max_attempts, claim.correlation_id
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
            with self.resources.engine.begin() as conn:
                stored = schedule_retry(conn, claim, error, error_type, delay_s)
            if not stored:
                return self.stale(claim)
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
        with self.resources.engine.begin() as conn:
            stored = fail_task(conn, claim.task_id, claim.lease_token, error, error_type)
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
        max_retries=3,
        acks_late=True,
    )
    def execute(self: AnyTask, task_id: str) -> dict[str, Any]:
        return executor.deliver(self, task_id)

    return execute
