"""Logs and metrics of the Celery processes: our log setup instead of Celery's, the log context
of each task, and one metrics endpoint per worker that adds up all its prefork children."""

import logging
import os
from typing import Any

from celery import Task
from celery.signals import (
    heartbeat_sent,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_shutdown,
)
from prometheus_client import CollectorRegistry, multiprocess, start_http_server
from prometheus_client.registry import REGISTRY

from celery_tasks.names import CORRELATION_HEADER, EXECUTE_TASK
from celery_tasks.settings import WorkerSettings
from taskkit import heartbeat, logsetup

log = logging.getLogger(__name__)


def worker_registry(settings: WorkerSettings) -> CollectorRegistry:
    """The registry a worker serves: every child's samples in multiprocess mode, else its own."""
    if settings.multiproc_dir is None:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=settings.multiproc_dir)  # type: ignore[no-untyped-call]
    return registry


def bind_task_context(task: "Task[Any, Any]", args: Any) -> None:
    """Start the log context of one execute delivery from its message.

    The bridge puts the correlation id in a Celery message header; the task id is the
    task's only argument. The type and attempt are added once the attempt is claimed.
    """
    logsetup.clear()
    if task.name != EXECUTE_TASK:
        return
    task_id = args[0] if args else None
    correlation_id = task.request.get(CORRELATION_HEADER)
    logsetup.bind(
        task_id=task_id if isinstance(task_id, str) else None,
        correlation_id=correlation_id if isinstance(correlation_id, str) else None,
    )


def install(settings: WorkerSettings, service: str) -> None:
    """Connect the signal receivers; `celery -A celery_tasks.app` calls this once at import."""

    @setup_logging.connect(weak=False)  # type: ignore[untyped-decorator]
    def _configure_logging(**_: Any) -> None:
        # Any receiver of this signal stops Celery from configuring logging itself, so the
        # root logger stays ours (worker_hijack_root_logger=False covers the rest).
        logsetup.configure_logging(settings.log, service)
        # Celery logs "received" and "succeeded" for every task; our own line (each attempt's
        # outcome) says the same with the correlation id, type and attempt, so the duplicates
        # only cost a JSON line each. Warnings and errors still come through.
        for name in ("celery.worker.strategy", "celery.app.trace"):
            logging.getLogger(name).setLevel(logging.WARNING)

    @task_prerun.connect(weak=False)  # type: ignore[untyped-decorator]
    def _bind(task: "Task[Any, Any]", args: Any = None, **_: Any) -> None:
        bind_task_context(task, args)

    @task_postrun.connect(weak=False)  # type: ignore[untyped-decorator]
    def _unbind(**_: Any) -> None:
        logsetup.clear()

    @worker_init.connect(weak=False)  # type: ignore[untyped-decorator]
    def _serve_metrics(**_: Any) -> None:
        # worker_init runs in the parent before the pool forks, and only in `celery worker`.
        if settings.multiproc_dir is None:
            log.warning("PROMETHEUS_MULTIPROC_DIR is unset: metrics show the parent process only")
        start_http_server(
            settings.metrics_port, addr=settings.metrics_address, registry=worker_registry(settings)
        )
        log.info(
            "worker metrics on http://%s:%d/metrics",
            settings.metrics_address,
            settings.metrics_port,
        )

    if settings.heartbeat_file is not None:
        beat_file = settings.heartbeat_file

        @heartbeat_sent.connect(weak=False)  # type: ignore[untyped-decorator]
        def _beat(**_: Any) -> None:
            # Sent by the worker's consumer loop every few seconds (its event heartbeat), so
            # a fresh file proves that loop turns, not only that the process exists.
            heartbeat.touch(beat_file)

    @worker_process_shutdown.connect(weak=False)  # type: ignore[untyped-decorator]
    def _mark_dead(**_: Any) -> None:
        if settings.multiproc_dir is not None:
            multiprocess.mark_process_dead(os.getpid(), settings.multiproc_dir)  # type: ignore[no-untyped-call]
