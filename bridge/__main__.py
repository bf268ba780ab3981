"""Bridge entry point: `python -m bridge`. Stops cleanly on SIGTERM or SIGINT."""

import logging
import signal
import threading
from types import FrameType

from prometheus_client import start_http_server

from bridge.consumer import Bridge, make_consumer
from bridge.records import TaskRecord
from bridge.settings import BridgeSettings
from celery_tasks.config import make_celery
from celery_tasks.dispatch import send_execute
from celery_tasks.logsetup import configure_logging
from celery_tasks.settings import CelerySettings, LogSettings

log = logging.getLogger("bridge")


def main() -> None:
    """Run the bridge until SIGTERM."""
    configure_logging(LogSettings.from_env(), service="bridge")
    settings = BridgeSettings.from_env()
    celery = make_celery(CelerySettings.from_env())
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d received; finishing the current batch", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def dispatch(record: TaskRecord) -> str:
        return send_execute(
            celery,
            record.task_id,
            record.type,
            priority=record.priority,
            correlation_id=record.correlation_id,
        )

    start_http_server(settings.metrics_port, addr=settings.metrics_address)
    bridge = Bridge(make_consumer(settings), dispatch, settings)
    log.info("bridge consuming %s as group %s", settings.topic, settings.group_id)
    bridge.run(stop.is_set)
    log.info("bridge stopped")


if __name__ == "__main__":
    main()
