"""The API's server: `python -m webapp.serve [--workers N --threads T --bind HOST:PORT]`.

granian serves `create_app()`: worker processes forked from this one, each running the app on
a pool of threads while granian's own (Rust) code reads requests and writes responses.

Why granian and not gunicorn (the API's server until issue 12): gunicorn's threaded worker
spent about 0.5 ms of a single submit's 1.2 ms of API CPU outside the app; the measurement is
in docs/architecture.md ("The HTTP server").

This module is the API's entry point: the settings are read and checked here, so a bad value
stops the server before any worker forks, with one line naming the variable, and granian's own
lines (start, worker exits) come out in the app's log format.
"""

from typing import Any

import click
from granian.constants import Interfaces
from granian.log import LogLevels
from granian.server import Server

from taskkit.settings import settings_or_exit
from webapp.settings import WebSettings

# granian's loggers: its own lines and its access line (off: the app logs every request once,
# with its correlation id and latency, webapp/hooks.py).
GRANIAN_LOGGERS = ("_granian", "granian.access")


def log_config(service: str, log_format: str, level: str) -> dict[str, Any]:
    """A dictConfig that sends granian's lines through the app's one handler."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {},
        "handlers": {
            "taskservice": {
                "()": "taskkit.logsetup.make_handler",
                "service": service,
                "log_format": log_format,
            }
        },
        "root": {"level": level, "handlers": ["taskservice"]},
        "loggers": {name: {"handlers": [], "propagate": True} for name in GRANIAN_LOGGERS},
    }


def parse_bind(bind: str) -> tuple[str, int]:
    """HOST:PORT as (host, port); a bad value is a usage error naming the option."""
    host, sep, port = bind.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"expected HOST:PORT, got {bind!r}", param_hint="--bind")
    return host.strip("[]"), int(port)


@click.command()
@click.option("--bind", default="127.0.0.1:8080", show_default=True, help="HOST:PORT to listen on.")
@click.option(
    "--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Processes."
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Threads per process running the app; they serve other requests while one waits on "
    "PostgreSQL or Redis.",
)
@click.option(
    "--graceful-timeout",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Seconds a stopping worker has to finish its requests before it is killed.",
)
def main(bind: str, workers: int, threads: int, graceful_timeout: int) -> None:
    """Serve the API until SIGTERM or SIGINT."""
    host, port = parse_bind(bind)
    settings = settings_or_exit(WebSettings.from_env, "api")
    log = settings.log
    server = Server(
        "webapp:create_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        websockets=False,
        log_level=LogLevels(log.level.lower()),
        log_dictconfig=log_config(log.service or "api", log.format, log.level),
        log_access=False,
        # As gunicorn did: a worker that dies is replaced (one dying again within seconds of
        # its respawn stops the server, so a supervisor sees a crash loop instead of a spin).
        respawn_failed_workers=True,
        workers_kill_timeout=graceful_timeout,
    )
    # prometheus_client's multiprocess mode wants a dead worker's files marked only for live
    # gauges (`multiprocess_mode="live*"`); the API has none, and its counters and histograms
    # of a dead worker rightly stay in /metrics' sums.
    server.serve()


if __name__ == "__main__":
    main()
