"""Celery entry point: `celery -A celery_tasks.app worker|beat|flower`.

The app object is the one module-level singleton the house style allows, because `celery -A`
needs it. Settings are read here, once (a bad value stops the process with a line naming the
variable); clients are made lazily in each worker process. This is the only module that loads
the handlers' bodies.
"""

import sys
from typing import Any

from celery.signals import worker_process_init

from celery_tasks.beat import register_beat
from celery_tasks.config import make_celery
from celery_tasks.execute import Executor, register_execute
from celery_tasks.handlers import registry
from celery_tasks.observability import install as install_observability
from celery_tasks.runtime import WorkerResources
from celery_tasks.settings import WorkerSettings
from taskkit.logsetup import service_from_argv
from taskkit.settings import settings_or_exit

service = service_from_argv(sys.argv)
settings = settings_or_exit(WorkerSettings.from_env, f"celery {service}")
if registry.missing():
    sys.exit(f"celery {service}: no handler body for task type(s) {', '.join(registry.missing())}")
# Flower picks the client of its broker page by the scheme of the broker URL kombu writes,
# which the service's transport setting turns into a class path (celery_tasks/redis_transport.py);
# Flower publishes nothing per task, so kombu's own transport costs it nothing.
app = make_celery(settings.broker, settings, client_per_channel=service != "flower")
resources = WorkerResources(settings)
execute = register_execute(app, Executor(resources, registry))
register_beat(app, resources)
install_observability(settings, service)


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _reset_after_fork(**_: Any) -> None:
    resources.reset()
