"""Gunicorn settings of the API: `gunicorn -c python:webapp.gunicorn_conf "webapp:create_app()"`.

Gunicorn reads this module at start, which makes it an entry point: the API's settings are read
and checked here, so a bad value stops gunicorn before any worker boots, with one line naming
the variable, and gunicorn's own lines (boot, worker exits) come out in the app's log format.
"""

from typing import Any

from gunicorn.glogging import Logger
from prometheus_client import multiprocess

from taskkit.settings import settings_or_exit
from webapp.settings import WebSettings

_settings = settings_or_exit(WebSettings.from_env, "api")
_log = _settings.log
# Set by ops/stack.sh (a fresh folder per start) so /metrics adds up every worker's samples.
_multiproc_dir = _settings.multiproc_dir

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
            "()": "taskkit.logsetup.make_handler",
            "service": _log.service or "api",
            "log_format": _log.format,
        }
    },
    "formatters": {},
}


class AppLogsRequests(Logger):  # type: ignore[misc]
    """gunicorn's logger without its access line: the app logs every request once, with its
    correlation id and latency (webapp/hooks.py), and gunicorn's line said the same again, a
    JSON line and a third of the logging CPU of each submit."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        return None


logger_class = AppLogsRequests


def child_exit(_server: Any, worker: Any) -> None:
    """Drop the live gauges of a worker that exited (prometheus_client multiprocess mode)."""
    if _multiproc_dir:
        multiprocess.mark_process_dead(worker.pid, _multiproc_dir)  # type: ignore[no-untyped-call]
