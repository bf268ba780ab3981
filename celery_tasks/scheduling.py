"""Beat jobs of the API's features: dispatch of due SCHEDULED tasks, purge of expired
idempotency keys. `register_scheduling` returns their beat schedule entries."""

import logging
from typing import Any

from celery import Celery

from celery_tasks import metrics
from celery_tasks.names import DISPATCH_DUE_TASK, MAINTENANCE_QUEUE, PURGE_IDEMPOTENCY_TASK
from celery_tasks.runtime import WorkerResources
from db.idempotency import purge_expired
from db.scheduled import dispatch_due

log = logging.getLogger(__name__)

PURGE_BATCH = 5000


def register_scheduling(app: Celery, resources: WorkerResources) -> dict[str, dict[str, Any]]:
    """Register the tasks on `app`; returns the entries to add to its beat schedule."""
    settings = resources.settings

    @app.task(name=DISPATCH_DUE_TASK, ignore_result=True)  # type: ignore[untyped-decorator]
    def dispatch_due_task() -> int:
        metrics.MAINTENANCE_RUNS.labels(DISPATCH_DUE_TASK).inc()
        total = 0
        # Drain in batches, each its own transaction, so a burst of due tasks goes out in one
        # run without holding thousands of row locks at once.
        while True:
            with resources.engine.begin() as conn:
                moved = dispatch_due(conn, settings.scheduled_dispatch_batch)
            total += moved
            if moved < settings.scheduled_dispatch_batch:
                break
        if total:
            log.info("dispatched %d scheduled task(s)", total)
        return total

    @app.task(name=PURGE_IDEMPOTENCY_TASK, ignore_result=True)  # type: ignore[untyped-decorator]
    def purge_idempotency_task() -> int:
        metrics.MAINTENANCE_RUNS.labels(PURGE_IDEMPOTENCY_TASK).inc()
        # Every expired key in each run, a short transaction per batch: keys are made at the
        # submission rate, and a fixed batch per run would fall behind any busy day.
        total = 0
        while True:
            with resources.engine.begin() as conn:
                purged = purge_expired(conn, PURGE_BATCH)
            total += purged
            if purged < PURGE_BATCH:
                return total

    interval = settings.scheduled_dispatch_interval_s
    return {
        "dispatch-due": {
            "task": DISPATCH_DUE_TASK,
            "schedule": interval,
            # A run that waited longer than this is superseded by the next one anyway.
            "options": {"queue": MAINTENANCE_QUEUE, "expires": max(interval * 5, 5.0)},
        },
        "purge-idempotency-keys": {
            "task": PURGE_IDEMPOTENCY_TASK,
            "schedule": 60.0,
            "options": {"queue": MAINTENANCE_QUEUE, "expires": 60.0},
        },
    }
