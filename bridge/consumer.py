"""The bridge loop: Kafka `tasks` records in, Celery execute messages out, offsets after."""

import logging
import time
from collections.abc import Callable, Sequence
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

# Hands a batch's records to Celery together; their message ids, in order, once Celery has
# them all; raises when it did not take them.
Dispatch = Callable[[Sequence[TaskRecord]], Sequence[str]]


def make_consumer(settings: BridgeSettings) -> Consumer:
    """Create the bridge's Kafka consumer (not yet subscribed)."""
    return Consumer({**settings.consumer_config(), "stats_cb": LagRecorder(settings.topic)})


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
        """Consume up to one batch, hand its records to Celery together, then store offsets.

        All or nothing: offsets are stored, in order, only after Celery took the whole batch;
        when it did not, every partition of the batch goes back to its first record of the
        batch, so a record is never committed before one ahead of it on its partition.
        """
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
        entries: list[tuple[Message, TaskRecord | None]] = []
        for msg in messages:
            err = msg.error()
            if err is not None:
                self._on_error(err)
                continue
            entries.append((msg, self._decode(msg)))
        records = [record for _, record in entries if record is not None]
        try:
            message_ids = iter(self.dispatch(records) if records else [])
        except Exception as err:  # noqa: BLE001 - any broker failure defers the batch.
            self._put_back(entries, err)
            result.deferred = len(records)
            return result
        for msg, record in entries:
            self.consumer.store_offsets(message=msg)
            if record is None:
                result.skipped += 1
                continue
            with log_context(
                correlation_id=record.correlation_id, task_id=record.task_id, task_type=record.type
            ):
                self._dispatched(msg, record, next(message_ids))
            result.dispatched += 1
        return result

    def _decode(self, msg: Message) -> TaskRecord | None:
        """The record's task; None for a record we cannot read (logged, counted, passed)."""
        try:
            return decode_task(msg.value(), msg.headers())  # type: ignore[arg-type]
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
            return None

    def _put_back(self, entries: list[tuple[Message, TaskRecord | None]], err: Exception) -> None:
        """Celery refused the batch: rewind each of its partitions to its first record here."""
        firsts: dict[tuple[str, int], int] = {}
        for msg, _ in entries:
            firsts.setdefault((msg.topic() or "", msg.partition() or 0), msg.offset() or 0)
        log.warning(
            "Celery did not take a batch of %d records (%s); will retry from offsets %s",
            len(entries),
            err,
            ", ".join(f"{t}[{p}]@{o}" for (t, p), o in sorted(firsts.items())),
        )
        metrics.RECORDS_CONSUMED.labels("deferred").inc(
            sum(1 for _, record in entries if record is not None)
        )
        for (topic, partition), offset in firsts.items():
            self.consumer.seek(TopicPartition(topic, partition, offset))

    def _dispatched(self, msg: Message, record: TaskRecord, message_id: str) -> None:
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

    def _on_error(self, err: KafkaError) -> None:
        if err.code() == KafkaError._PARTITION_EOF:
            return
        if err.fatal():
            raise ConsumerFatalError(str(err))
        log.warning("Kafka consumer error: %s", err)
