"""Outbox relay entry point: `python -m relay`. Publishes committed outbox rows to Kafka and
refreshes the queue-health gauges; several may run at once; stops cleanly on SIGTERM."""

import logging

import httpx
from confluent_kafka import Producer
from prometheus_client import start_http_server

from db.direct import libpq_conninfo
from db.engine import make_engine
from db.topics import make_admin
from relay.kafka import make_producer
from relay.loop import DATABASE_ERRORS, Waker, make_step
from relay.queue_health import QueueHealth
from relay.relay import Relay
from relay.settings import RelaySettings
from relay.webhooks import WebhookSender
from taskkit.logsetup import configure_logging
from taskkit.loop import ProcessLoop
from taskkit.settings import settings_or_exit

log = logging.getLogger("relay")


def main() -> None:
    """Run the relay until SIGTERM."""
    settings = settings_or_exit(RelaySettings.from_env, "relay")
    configure_logging(settings.log, service="relay")
    loop = ProcessLoop(
        "relay",
        retry_on=DATABASE_ERRORS,
        error_backoff_s=settings.error_backoff_s,
        heartbeat_file=settings.heartbeat_file,
    )
    loop.install_signal_handlers()
    start_http_server(settings.metrics_port, addr=settings.metrics_address)
    # No pre-ping: the loop retries a batch that met a dropped connection (relay/loop.py).
    engine = make_engine(
        settings.database_url, pool_size=2, app_name="outbox-relay", pre_ping=False
    )
    QueueHealth(engine, make_admin(settings.kafka_bootstrap_servers)).start(
        settings.health_interval_s, loop.stop
    )
    http = httpx.Client(timeout=settings.webhook_timeout_s, follow_redirects=False)
    WebhookSender(engine, http, settings).start(loop.stop)
    waker = Waker(libpq_conninfo(settings.database_url))

    def new_producer() -> Producer:
        return make_producer(
            settings.kafka_bootstrap_servers,
            delivery_timeout_ms=settings.delivery_timeout_ms,
            linger_ms=settings.linger_ms,
        )

    relay = Relay(engine, new_producer(), settings, make_producer=new_producer)
    log.info("outbox relay started")
    try:
        loop.run(make_step(relay, waker))
    finally:
        waker.close()
        relay.producer.flush(settings.delivery_timeout_ms / 1000)
        http.close()
        engine.dispose()
    log.info("outbox relay stopped")


if __name__ == "__main__":
    main()
