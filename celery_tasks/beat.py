"""Periodic jobs run by Celery beat: the reconciler and partition maintenance."""

import logging
from typing import Any

from celery import Celery
from celery.schedules import crontab

from celery_tasks import metrics
from celery_tasks.epoch import broker_epoch
from celery_tasks.names import (
    ENSURE_PARTITIONS_TASK,
    MAINTENANCE_QUEUE,
    PRUNE_PARTITIONS_TASK,
    RECONCILE_TASK,
    REDRIVE_TASK,
)
from celery_tasks.orphans import restore_orphans
from celery_tasks.redrive_job import register_redrive
from celery_tasks.runtime import WorkerResources
from celery_tasks.scheduling import register_scheduling
from celery_tasks.vanished import redispatch_vanished_tasks
from db import redrives
from db.partitions import default_partition_rows, ensure_partitions
from db.reconcile import ReconcileReport, reconcile
from db.retention import prune_partitions

log = logging.getLogger(__name__)

# A running re-drive whose job made no progress this long is presumed lost with its worker.
REDRIVE_STALE_S = 30.0


def register_beat(app: Celery, resources: WorkerResources) -> None:
    """Register the periodic tasks and their schedule on `app`."""
    settings = resources.settings
    register_redrive(app, resources)

    @app.task(name=RECONCILE_TASK, ignore_result=True)  # type: ignore[untyped-decorator]
    def reconcile_task() -> dict[str, Any]:
        metrics.MAINTENANCE_RUNS.labels(RECONCILE_TASK).inc()
        report = ReconcileReport()
        # Read once per run: a loss the broker suffers meanwhile is seen by the next run.
        epoch = broker_epoch(resources.broker_redis)
        if epoch is None:
            log.warning("broker epoch unreadable; this run cannot tell whether it lost data")
        # One transaction per batch keeps locks short; a large loss (a flushed broker with
        # thousands of messages) is still recovered in one run instead of a batch per interval.
        for _ in range(settings.reconcile_max_batches):
            with resources.engine.begin() as conn:
                run = reconcile(
                    conn,
                    broker_epoch=epoch,
                    lost_after_s=settings.reconcile_lost_after_s,
                    batch=settings.reconcile_batch,
                )
            report.add(run)
            if not run.saturated(settings.reconcile_batch):
                break
        # Messages a dead node had received and not started would otherwise wait for the
        # broker's visibility timeout (an hour).
        restored = restore_orphans(
            app,
            resources.engine,
            after_s=settings.reconcile_orphan_after_s,
            limit=settings.reconcile_batch,
        )
        report.orphans_restored += restored
        # Messages lost in the instant a dying node took them from their queue are in no
        # queue and no `unacked` entry: looked for only when a task has waited long.
        report.vanished_redispatched += redispatch_vanished_tasks(
            app,
            resources.engine,
            resources.kafka_admin,
            bridge_group=settings.bridge_group_id,
            after_s=settings.reconcile_vanished_after_s,
            scan_limit=settings.reconcile_scan_limit,
            batch=settings.reconcile_batch,
        )
        # Re-drives waiting to start, or whose job died with its worker, run (again) now.
        with resources.engine.begin() as conn:
            waiting = redrives.to_run(conn, stale_after_s=REDRIVE_STALE_S)
        for redrive_id in waiting:
            app.send_task(REDRIVE_TASK, args=[str(redrive_id)], queue=MAINTENANCE_QUEUE)
        if report.broker_lost:
            log.error("the broker lost its data (epoch changed); re-publishing waiting tasks")
        if report.total:
            log.warning("reconciler moved stuck tasks: %s", report)
        return vars(report)

    @app.task(name=ENSURE_PARTITIONS_TASK, ignore_result=True)  # type: ignore[untyped-decorator]
    def ensure_partitions_task() -> list[str]:
        metrics.MAINTENANCE_RUNS.labels(ENSURE_PARTITIONS_TASK).inc()
        with resources.engine.begin() as conn:
            created = ensure_partitions(conn, settings.partitions_ahead_months)
            stray = default_partition_rows(conn)
        if created:
            log.info("created partitions %s", ", ".join(created))
        # The relay's queue-health collector exports the count (tasks_in_default_partition);
        # the daily job only says so in the log.
        if stray:
            log.warning("default partition holds %d task row(s) outside every month", stray)
        return created

    @app.task(name=PRUNE_PARTITIONS_TASK, ignore_result=True)  # type: ignore[untyped-decorator]
    def prune_partitions_task() -> list[str]:
        metrics.MAINTENANCE_RUNS.labels(PRUNE_PARTITIONS_TASK).inc()
        report = prune_partitions(resources.engine, settings.retention_months)
        if report.refused:
            # Each refusal was already logged by name; the run still dropped what it could.
            log.error("prune refused %d partition(s) holding active tasks", len(report.refused))
        return report.dropped

    # Maintenance has its own queue so a deep backlog of tasks cannot starve the reconciler,
    # which is what rescues that backlog when its messages are lost.
    options = {"queue": MAINTENANCE_QUEUE, "expires": settings.reconcile_interval_s * 4}
    app.conf.beat_schedule = {
        "reconcile": {
            "task": RECONCILE_TASK,
            "schedule": settings.reconcile_interval_s,
            "options": options,
        },
        "ensure-partitions": {
            "task": ENSURE_PARTITIONS_TASK,
            "schedule": crontab(minute="7", hour="*/6"),
            "options": {"queue": MAINTENANCE_QUEUE},
        },
        "prune-partitions": {
            "task": PRUNE_PARTITIONS_TASK,
            "schedule": crontab(minute="37", hour="3"),
            "options": {"queue": MAINTENANCE_QUEUE},
        },
    }
    # Dispatch of scheduled tasks and the idempotency-key purge (celery_tasks/scheduling.py).
    app.conf.beat_schedule.update(register_scheduling(app, resources))
