"""The bridge loop: Kafka `tasks` records in, Celery execute messages out, offsets after."""

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from bridge import metrics
from bridge.errors import ConsumerFatalError
from bridge.lag import LagRecorder
from bridge.settings import BridgeSettings
from db.errors import RecordDecodeError
from db.wire import TaskRecord, decode_task
from taskkit.logsetup import log_context

log = logging.getLogger(__name__)

Dispatch = Callable[[TaskRecord], object]


def make_consumer(settings: BridgeSettings) -> Consumer:
    """Create the bridge's Kafka consumer (not yet subscribed)."""
    return Consumer({**settings.consumer_config(), "stats_cb": LagRecorder(settings.topic)})


class Handled(enum.Enum):
    """What became of one record."""

    DISPATCHED = "dispatched"
    SKIPPED = "skipped"
    DEFERRED = "deferred"


@dataclass
class BatchResult:
    """What one batch did: records dispatched, skipped as undecodable, and put back."""

    dispatched: int = 0
    skipped: int = 0
    deferred: int = 0


class Bridge:
    """Moves records from a subscribed consumer to a dispatch function, one batch at a time."""

    def __init__(self, consumer: Consumer, dispatch: Dispatch, settings: BridgeSettings) -> None:
        self.consumer = consumer
        self.dispatch = dispatch
        self.settings = settings

    def subscribe(self) -> None:
        """Join the consumer group on the tasks topic."""
        self.consumer.subscribe([self.settings.topic])

    def step(self) -> float:
        """One batch; the seconds to wait before the next (a back-off after a deferral)."""
        result = self.process_batch()
        return self.settings.retry_backoff_s if result.deferred else 0.0

    def close(self) -> None:
        """Leave the group, committing the stored offsets."""
        self.consumer.close()

    def process_batch(self) -> BatchResult:
        """Consume up to one batch, dispatch each record, store offsets of those Celery took."""
        # Wait for the first record only, then take what is already fetched without waiting:
        # consume(n, timeout) returns only once n records arrived or the timeout passed, which
        # held a lone task for up to the whole timeout.
        first = self.consumer.poll(self.settings.poll_timeout_s)
        result = BatchResult()
        if first is None:
            return result
        messages = [first]
        if self.settings.batch_size > 1:
            messages += self.consumer.consume(num_messages=self.settings.batch_size - 1, timeout=0)
        blocked: set[tuple[str, int]] = set()
        for msg in messages:
            err = msg.error()
            if err is not None:
                self._on_error(err)
                continue
            partition = (msg.topic() or "", msg.partition() or 0)
            if partition in blocked:
                # An earlier record of this partition was put back; later ones follow it so
                # the partition's order and its committed offset stay consistent.
                continue
            handled = self._handle(msg)
            if handled is Handled.DISPATCHED:
                result.dispatched += 1
            elif handled is Handled.SKIPPED:
                result.skipped += 1
            else:
                result.deferred += 1
                blocked.add(partition)
        return result

    def _handle(self, msg: Message) -> Handled:
        """Dispatch one record; its offset is stored unless it was put back."""
        try:
            record = decode_task(msg.value(), msg.headers())  # type: ignore[arg-type]
        except RecordDecodeError as err:
            # A record we cannot read will never become readable; parking the partition on it
            # would stop every task behind it, so it is logged, counted and passed.
            log.error(
                "skipping undecodable record %s[%s]@%s: %s",
                msg.topic(),
                msg.partition(),
                msg.offset(),
                err,
            )
            metrics.RECORDS_CONSUMED.labels("undecodable").inc()
            self.consumer.store_offsets(message=msg)
            return Handled.SKIPPED
        with log_context(
            correlation_id=record.correlation_id, task_id=record.task_id, task_type=record.type
        ):
            return self._dispatch(msg, record)

    def _dispatch(self, msg: Message, record: TaskRecord) -> Handled:
        """Hand one decoded record to Celery; put the partition back when Celery refuses."""
        try:
            message_id = self.dispatch(record)
        except Exception as err:  # noqa: BLE001 - any broker failure defers the partition.
            log.warning(
                "Celery did not take task %s (%s); will retry from offset %s",
                record.task_id,
                err,
                msg.offset(),
            )
            metrics.RECORDS_CONSUMED.labels("deferred").inc()
            self.consumer.seek(
                TopicPartition(msg.topic() or "", msg.partition() or 0, msg.offset() or 0)
            )
            return Handled.DEFERRED
        self.consumer.store_offsets(message=msg)
        metrics.RECORDS_CONSUMED.labels("dispatched").inc()
        log.info(
            "task %s queued for Celery as message %s from %s[%s]@%s",
            record.task_id,
            message_id,
            msg.topic(),
            msg.partition(),
            msg.offset(),
        )
        _, ts_ms = msg.timestamp()
        if ts_ms > 0:
            metrics.DISPATCH_LATENCY.observe(max(time.time() - ts_ms / 1000, 0.0))
        return Handled.DISPATCHED

    def _on_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._PARTITION_EOF:
            return
        if err.fatal():
            raise ConsumerFatalError(str(err))
        log.warning("Kafka consumer error: %s", err)
