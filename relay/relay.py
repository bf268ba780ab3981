"""The relay's work: claim a batch of outbox rows, produce them, delete what Kafka took.

It wakes on NOTIFY (sent by each transaction that writes the outbox, or right after it commits:
the API's submits, db/wakeup.py) and on a periodic sweep,
claims rows `FOR UPDATE SKIP LOCKED`, produces them with the idempotent producer, waits for every
delivery report, and deletes only the rows Kafka acknowledged, all in the claiming transaction.
Several relays may run at once.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from db.outbox import OutboxRecord, backlog, claim_batch, delete_published, park
from db.wire import CORRELATION_HEADER, encode_value
from relay import metrics
from relay.settings import RelaySettings
from taskkit.logsetup import log_context

log = logging.getLogger("relay")


# Errors no retry can mend: the record is parked (kept in PostgreSQL, counted, listed by
# `taskctl outbox parked`) so the rows behind it keep flowing. Everything else (a broker
# down, a timeout, a leader election) is retried with the next batch.
PERMANENT_ERRORS = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_RECORD,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.TOPIC_EXCEPTION,
        KafkaError._INVALID_ARG,
    }
)
# A row whose produce() keeps failing in a way the list above does not name (a fatal error of
# the idempotent producer, say) is parked after this many tries, so it cannot stop the relay.
MAX_STRIKES = 3
# How often the backlog gauges are refreshed from the outbox table, at most.
BACKLOG_INTERVAL_S = 1.0
# How long the relay trusts its list of the cluster's topics before asking again.
TOPICS_TTL_S = 30.0


@dataclass
class BatchOutcome:
    """Rows of one batch that Kafka acknowledged, those parked, and the errors of the rest."""

    claimed: int = 0
    delivered: list[int] = field(default_factory=list)
    parked: dict[int, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    fatal: bool = False


class Relay:
    """Publishes outbox rows through `producer`, one claimed batch per call."""

    def __init__(
        self,
        engine: sa.Engine,
        producer: Producer,
        settings: RelaySettings,
        make_producer: Callable[[], Producer] | None = None,
    ) -> None:
        self.engine = engine
        self.producer = producer
        self.settings = settings
        self.make_producer = make_producer
        self._strikes: dict[int, int] = {}
        self._topics: set[str] = set()
        self._topics_at = 0.0
        self._observed_at = 0.0

    def publish_batch(self) -> BatchOutcome:
        """Claim, produce and delete one batch; park what can never be produced; rows Kafka
        did not take for other reasons stay for the next try."""
        outcome = BatchOutcome()
        with self.engine.begin() as conn:
            records = claim_batch(conn, self.settings.batch_size)
            outcome.claimed = len(records)
            if not records:
                return outcome
            started = time.perf_counter()
            for record in records:
                reason = self._unproducible(record)
                if reason is not None:
                    outcome.parked[record.id] = reason
                    continue
                self._produce(record, outcome)
                if outcome.fatal:
                    break
            # Wait for every report: message.timeout.ms bounds each message, so none is left
            # in flight once flush returns 0, and the next claim cannot publish it twice.
            remaining = self.producer.flush(self.settings.delivery_timeout_ms / 1000 + 5)
            if remaining:
                outcome.errors.append(f"{remaining} messages still in flight after flush")
            park(conn, outcome.parked)
            delete_published(conn, outcome.delivered)
            metrics.RELAY_PUBLISH_LATENCY.observe(time.perf_counter() - started)
        self._account(outcome)
        return outcome

    def _account(self, outcome: BatchOutcome) -> None:
        metrics.RELAY_PUBLISHED.inc(len(outcome.delivered))
        if outcome.errors:
            metrics.RELAY_DELIVERY_ERRORS.inc(len(outcome.errors))
        for row_id, reason in outcome.parked.items():
            metrics.RELAY_PARKED.inc()
            self._strikes.pop(row_id, None)
            log.error("outbox row %d parked: %s", row_id, reason)
        if outcome.fatal and self.make_producer is not None:
            # A fatal error leaves the idempotent producer unusable; its rows were not
            # deleted, so a fresh producer publishes them again.
            log.error("Kafka producer hit a fatal error; creating a new one")
            self.producer = self.make_producer()

    def _unproducible(self, record: OutboxRecord) -> str | None:
        size = len(record.key) + len(encode_value(record.value))
        size += sum(len(k) + len(v) for k, v in record.headers.items())
        if size > self.settings.max_record_bytes:
            return f"record of {size} bytes exceeds the limit of {self.settings.max_record_bytes}"
        if not self._topic_exists(record.topic):
            return f"topic {record.topic!r} does not exist"
        if self._strikes.get(record.id, 0) >= MAX_STRIKES:
            return f"produce() failed {MAX_STRIKES} times for this row"
        return None

    def _topic_exists(self, topic: str) -> bool:
        if topic in self._topics:
            return True
        if time.monotonic() - self._topics_at < TOPICS_TTL_S and self._topics:
            return False
        try:
            metadata = self.producer.list_topics(timeout=5)
        except KafkaException as err:
            # Kafka is unreachable: nothing can be said about the topic; produce and let the
            # delivery report decide.
            log.warning("cannot list Kafka topics: %s", err)
            return True
        self._topics = {name for name, t in metadata.topics.items() if t.error is None}
        self._topics_at = time.monotonic()
        return topic in self._topics

    def _produce(self, record: OutboxRecord, outcome: BatchOutcome) -> None:
        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is None:
                outcome.delivered.append(record.id)
            elif err.code() in PERMANENT_ERRORS:
                outcome.parked[record.id] = f"Kafka refused the record: {err}"
            else:
                outcome.fatal = outcome.fatal or err.fatal()
                outcome.errors.append(f"row {record.id}: {err}")
            log_delivery(record, msg, err)

        headers: list[tuple[str, str | bytes | None]] = [
            (k, v.encode()) for k, v in record.headers.items()
        ]
        try:
            try:
                self.producer.produce(
                    record.topic,
                    key=record.key.encode(),
                    value=encode_value(record.value),
                    headers=headers,
                    on_delivery=on_delivery,
                )
            except BufferError:
                # The local queue is full: serve delivery reports, then try once more.
                self.producer.poll(1.0)
                self.producer.produce(
                    record.topic,
                    key=record.key.encode(),
                    value=encode_value(record.value),
                    headers=headers,
                    on_delivery=on_delivery,
                )
        except KafkaException as exc:
            err = exc.args[0]
            if err.code() in PERMANENT_ERRORS:
                outcome.parked[record.id] = f"produce() refused the record: {err}"
                return
            self._strike(record, outcome, f"produce() failed: {err}")
            outcome.fatal = outcome.fatal or err.fatal()
            return
        except (BufferError, TypeError, ValueError) as exc:
            self._strike(record, outcome, f"produce() failed: {exc!r}")
            return
        # Serve delivery reports as they come so the local queue never fills up.
        self.producer.poll(0)

    def _strike(self, record: OutboxRecord, outcome: BatchOutcome, error: str) -> None:
        self._strikes[record.id] = self._strikes.get(record.id, 0) + 1
        outcome.errors.append(f"row {record.id}: {error}")

    def observe_backlog_now_and_then(self) -> None:
        """Update the backlog gauges at most once a second: the count scans the outbox, and a
        busy relay finishes a batch many times a second."""
        if time.monotonic() - self._observed_at >= BACKLOG_INTERVAL_S:
            self.observe_backlog()
            self._observed_at = time.monotonic()

    def observe_backlog(self) -> None:
        """Update the backlog gauges from the outbox table."""
        with self.engine.connect() as conn:
            count, oldest_s, parked = backlog(conn)
        metrics.RELAY_BACKLOG.set(count)
        metrics.RELAY_OLDEST_AGE.set(oldest_s)
        metrics.RELAY_PARKED_ROWS.set(parked)


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
