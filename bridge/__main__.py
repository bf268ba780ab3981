"""Bridge entry point: `python -m bridge`. Consumes the `tasks` topic as group `task-bridge` and
queues each record as a Celery execute message; stops cleanly on SIGTERM or SIGINT."""

import logging

from prometheus_client import start_http_server

from bridge.consumer import Bridge, make_consumer
from bridge.dispatch import celery_dispatch
from bridge.settings import BridgeSettings
from celery_tasks.config import make_celery
from taskkit.logsetup import configure_logging
from taskkit.loop import ProcessLoop
from taskkit.settings import settings_or_exit

log = logging.getLogger("bridge")


def main() -> None:
    """Run the bridge until SIGTERM."""
    settings = settings_or_exit(BridgeSettings.from_env, "bridge")
    configure_logging(settings.log, service="bridge")
    celery = make_celery(settings.broker)
    loop = ProcessLoop("bridge", heartbeat_file=settings.heartbeat_file)
    loop.install_signal_handlers()

    start_http_server(settings.metrics_port, addr=settings.metrics_address)
    bridge = Bridge(make_consumer(settings), celery_dispatch(celery), settings)
    log.info("bridge consuming %s as group %s", settings.topic, settings.group_id)
    bridge.subscribe()
    try:
        loop.run(bridge.step)
    finally:
        bridge.close()
    log.info("bridge stopped")


if __name__ == "__main__":
    main()
