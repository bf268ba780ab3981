"""Celery entry point: `celery -A celery_tasks.app worker|beat|flower`.

The app object is the one module-level singleton the house style allows, because `celery -A`
needs it. Settings are read here, once; clients are made lazily in each worker process.
"""

import sys
from typing import Any

from celery.signals import worker_process_init

from celery_tasks.beat import register_beat
from celery_tasks.config import make_celery
from celery_tasks.execute import Executor, register_execute
from celery_tasks.handlers import registry
from celery_tasks.logsetup import service_from_argv
from celery_tasks.observability import install as install_observability
from celery_tasks.runtime import WorkerResources
from celery_tasks.settings import CelerySettings, LogSettings, WorkerMetricsSettings

settings = CelerySettings.from_env()
app = make_celery(settings)
resources = WorkerResources(settings)
execute = register_execute(app, Executor(resources, registry))
register_beat(app, resources)
install_observability(
    LogSettings.from_env(), WorkerMetricsSettings.from_env(), service_from_argv(sys.argv)
)


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _reset_after_fork(**_: Any) -> None:
    resources.reset()
