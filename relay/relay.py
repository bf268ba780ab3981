"""The relay's work: claim a batch of outbox rows, produce them, delete what Kafka took.

It wakes on NOTIFY (sent by every transaction that writes the outbox) and on a periodic sweep,
claims rows `FOR UPDATE SKIP LOCKED`, produces them with the idempotent producer, waits for every
delivery report, and deletes only the rows Kafka acknowledged, all in the claiming transaction.
Several relays may run at once.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
import sqlalchemy as sa
from confluent_kafka import KafkaError, Message, Producer

from db.outbox import OutboxRecord, backlog, claim_batch, delete_published
from db.topics import OUTBOX_CHANNEL
from db.wire import CORRELATION_HEADER, encode_value
from relay import metrics
from relay.settings import RelaySettings
from taskkit.logsetup import log_context

log = logging.getLogger("relay")


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
            value=encode_value(record.value),
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
        correlation_id=record.headers.get(CORRELATION_HEADER),
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


class Waker:
    """The LISTEN connection that wakes the relay when a transaction writes the outbox."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def ensure(self) -> None:
        """Connect and LISTEN, unless connected already."""
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
            self._conn.execute(f"LISTEN {OUTBOX_CHANNEL}")

    def wait(self, timeout_s: float) -> None:
        """Return at the first NOTIFY, or after `timeout_s` (the sweep)."""
        self.ensure()
        assert self._conn is not None
        for _ in self._conn.notifies(timeout=timeout_s, stop_after=1):
            pass

    def close(self) -> None:
        """Close the connection; the next `ensure` opens a fresh one."""
        if self._conn is not None:
            self._conn.close()
        self._conn = None


# The errors of a database that is down or restarting: the loop backs off and retries.
DATABASE_ERRORS = (psycopg.Error, sa.exc.SQLAlchemyError)


def make_step(relay: Relay, waker: Waker) -> Callable[[], float]:
    """The relay loop's step: drain, then sleep until NOTIFY or the sweep interval."""
    settings = relay.settings

    def step() -> float:
        try:
            waker.ensure()
            outcome = relay.publish_batch()
            if outcome.errors:
                log.warning(
                    "%d of %d outbox rows not published; retrying: %s",
                    outcome.claimed - len(outcome.delivered),
                    outcome.claimed,
                    outcome.errors[0],
                )
                return settings.error_backoff_s
            if outcome.delivered:
                log.info("published %d outbox rows", len(outcome.delivered))
            if outcome.claimed >= settings.batch_size:
                return 0.0
            relay.observe_backlog()
            waker.wait(settings.sweep_interval_s)
        except DATABASE_ERRORS:
            # A fresh LISTEN connection once the database is back; the loop logs and backs off.
            waker.close()
            raise
        return 0.0

    return step
