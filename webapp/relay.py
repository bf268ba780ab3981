"""Outbox relay: `python -m webapp.relay`. Publishes committed outbox rows to Kafka.

It wakes on NOTIFY (sent by every transaction that writes the outbox) and on a periodic sweep,
claims rows `FOR UPDATE SKIP LOCKED`, produces them with the idempotent producer, waits for every
delivery report, and deletes only the rows Kafka acknowledged, all in the claiming transaction.
Several relays may run at once. Stops cleanly on SIGTERM.
"""

import json
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from types import FrameType

import psycopg
import sqlalchemy as sa
from confluent_kafka import KafkaError, Message, Producer
from prometheus_client import start_http_server

from celery_tasks.logsetup import configure_logging, log_context
from celery_tasks.settings import LogSettings
from db.engine import make_engine
from db.outbox import OutboxRecord, backlog, claim_batch, delete_published
from db.topics import OUTBOX_CHANNEL
from webapp import metrics
from webapp.kafka import make_admin, make_producer
from webapp.queue_health import QueueHealth
from webapp.settings import RelaySettings

log = logging.getLogger("webapp.relay")


@dataclass
class BatchOutcome:
    """Rows of one batch that Kafka acknowledged, and the errors of those it did not."""

    claimed: int = 0
    delivered: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Relay:
    """Publishes outbox rows through `producer`, one claimed batch per call."""

    def __init__(self, engine: sa.Engine, producer: Producer, settings: RelaySettings) -> None:
        self.engine = engine
        self.producer = producer
        self.settings = settings

    def publish_batch(self) -> BatchOutcome:
        """Claim, produce and delete one batch; rows Kafka did not take stay for the next try."""
        outcome = BatchOutcome()
        with self.engine.begin() as conn:
            records = claim_batch(conn, self.settings.batch_size)
            outcome.claimed = len(records)
            if not records:
                return outcome
            started = time.perf_counter()
            for record in records:
                self._produce(record, outcome)
            # Wait for every report: message.timeout.ms bounds each message, so none is left
            # in flight once flush returns 0, and the next claim cannot publish it twice.
            remaining = self.producer.flush(self.settings.delivery_timeout_ms / 1000 + 5)
            if remaining:
                outcome.errors.append(f"{remaining} messages still in flight after flush")
            delete_published(conn, outcome.delivered)
            metrics.RELAY_PUBLISH_LATENCY.observe(time.perf_counter() - started)
        metrics.RELAY_PUBLISHED.inc(len(outcome.delivered))
        if outcome.errors:
            metrics.RELAY_DELIVERY_ERRORS.inc(len(outcome.errors))
        return outcome

    def _produce(self, record: OutboxRecord, outcome: BatchOutcome) -> None:
        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is None:
                outcome.delivered.append(record.id)
            else:
                outcome.errors.append(f"row {record.id}: {err}")
            log_delivery(record, msg, err)

        headers: list[tuple[str, str | bytes | None]] = [
            (k, v.encode()) for k, v in record.headers.items()
        ]
        self.producer.produce(
            record.topic,
            key=record.key.encode(),
            value=json.dumps(record.value, separators=(",", ":")).encode(),
            headers=headers,
            on_delivery=on_delivery,
        )
        # Serve delivery reports as they come so the local queue never fills up.
        self.producer.poll(0)

    def observe_backlog(self) -> None:
        """Update the backlog gauges from the outbox table."""
        with self.engine.connect() as conn:
            count, oldest_s = backlog(conn)
        metrics.RELAY_BACKLOG.set(count)
        metrics.RELAY_OLDEST_AGE.set(oldest_s)


def log_delivery(record: OutboxRecord, msg: Message, err: KafkaError | None) -> None:
    """One line per record, carrying the task's correlation id, so a task can be followed."""
    attempt = record.value.get("attempts", record.value.get("attempt"))
    with log_context(
        correlation_id=record.headers.get("correlation_id"),
        task_id=record.key,
        task_type=record.value.get("type"),
        attempt=attempt if isinstance(attempt, int) else None,
    ):
        if err is None:
            log.info(
                "published task %s to %s[%s]@%s",
                record.key,
                msg.topic(),
                msg.partition(),
                msg.offset(),
            )
        else:
            log.warning("task %s not published to %s: %s", record.key, record.topic, err)


def listen_conninfo(database_url: str) -> str:
    """The libpq connection string of a SQLAlchemy URL, for the LISTEN connection."""
    url = sa.engine.make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def run(relay: Relay, conninfo: str, stop: threading.Event) -> None:
    """Publish until `stop` is set: drain, then sleep until NOTIFY or the sweep interval."""
    settings = relay.settings
    listener: psycopg.Connection[tuple[object, ...]] | None = None
    while not stop.is_set():
        try:
            if listener is None or listener.closed:
                listener = psycopg.connect(conninfo, autocommit=True, connect_timeout=5)
                listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
            outcome = relay.publish_batch()
            if outcome.errors:
                log.warning(
                    "%d of %d outbox rows not published; retrying: %s",
                    outcome.claimed - len(outcome.delivered),
                    outcome.claimed,
                    outcome.errors[0],
                )
                stop.wait(settings.error_backoff_s)
                continue
            if outcome.delivered:
                log.info("published %d outbox rows", len(outcome.delivered))
            if outcome.claimed >= settings.batch_size:
                continue
            relay.observe_backlog()
            for _ in listener.notifies(timeout=settings.sweep_interval_s, stop_after=1):
                pass
        except (psycopg.Error, sa.exc.SQLAlchemyError) as err:
            log.warning("database unavailable (%s); retrying", err)
            if listener is not None:
                listener.close()
            listener = None
            stop.wait(settings.error_backoff_s)
    if listener is not None:
        listener.close()


def main() -> None:
    """Run the relay until SIGTERM."""
    configure_logging(LogSettings.from_env(), service="relay")
    settings = RelaySettings.from_env()
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d received; stopping after the current batch", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    start_http_server(settings.metrics_port, addr=settings.metrics_address)
    engine = make_engine(settings.database_url, pool_size=2, app_name="outbox-relay")
    producer = make_producer(
        settings.kafka_bootstrap_servers,
        delivery_timeout_ms=settings.delivery_timeout_ms,
        linger_ms=settings.linger_ms,
    )
    QueueHealth(engine, make_admin(settings.kafka_bootstrap_servers)).start(
        settings.health_interval_s, stop
    )
    log.info("outbox relay started")
    run(Relay(engine, producer, settings), listen_conninfo(settings.database_url), stop)
    producer.flush(settings.delivery_timeout_ms / 1000)
    engine.dispose()
    log.info("outbox relay stopped")


if __name__ == "__main__":
    main()
