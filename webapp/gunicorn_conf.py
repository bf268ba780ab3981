"""Gunicorn settings of the API: `gunicorn -c python:webapp.gunicorn_conf "webapp:create_app()"`.

Gunicorn reads this module at start, which makes it an entry point: the log settings are read
here so gunicorn's own lines (boot, worker exits) come out in the same format as the app's.
"""

import os
from typing import Any

from prometheus_client import multiprocess

from celery_tasks.settings import LogSettings

_log = LogSettings.from_env()
# Set by ops/stack.sh (a fresh folder per start) so /metrics adds up every worker's samples.
_multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")

# Everything goes to the root logger's one handler; gunicorn's loggers only pass lines up.
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": _log.level, "handlers": ["taskservice"]},
    "loggers": {
        "gunicorn.error": {"level": _log.level, "handlers": [], "propagate": True},
        "gunicorn.access": {"level": _log.level, "handlers": [], "propagate": True},
    },
    "handlers": {
        "taskservice": {
            "()": "celery_tasks.logsetup.make_handler",
            "service": _log.service or "api",
            "log_format": _log.format,
        }
    },
    "formatters": {},
}


def child_exit(_server: Any, worker: Any) -> None:
    """Drop the live gauges of a worker that exited (prometheus_client multiprocess mode)."""
    if _multiproc_dir:
        multiprocess.mark_process_dead(worker.pid, _multiproc_dir)  # type: ignore[no-untyped-call]
