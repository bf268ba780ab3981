"""Baseline (d): raw confluent-kafka produce and consume rates on a throwaway 32-partition topic.

The producer is the relay's (relay/kafka.py: idempotent, acks=all, linger 5 ms, lz4) and the
records look like the relay's (db/wire.py values, a task-id key, the correlation-id header); the
consumer has the bridge's configuration (bridge/settings.py) in a group of its own, and stores
each offset as the bridge does. The topic is created for the run and deleted afterwards.
"""

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Consumer, KafkaError, Message
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from bridge.settings import BridgeSettings
from db.ids import created_at_of, uuid7
from db.topics import TASKS_PARTITIONS
from db.wire import CORRELATION_HEADER, encode_value, task_value
from relay.kafka import make_producer


class KafkaBaselineError(Exception):
    """Raised when a produce is not acknowledged or the consumer does not get every record."""


@dataclass(frozen=True)
class KafkaRates:
    """Records per second through the producer (until every report) and the consumer."""

    records: int
    produce_s: float
    consume_s: float

    @property
    def produce_rate(self) -> float:
        """Records acknowledged per second."""
        return self.records / self.produce_s

    @property
    def consume_rate(self) -> float:
        """Records consumed per second, from the first record to the last."""
        return self.records / self.consume_s


@contextmanager
def throwaway_topic(admin: AdminClient, partitions: int = TASKS_PARTITIONS) -> Iterator[str]:
    """A fresh topic named for this run, deleted on exit."""
    name = f"bench-{uuid.uuid4().hex[:12]}"
    topic = NewTopic(name, num_partitions=partitions, replication_factor=1)
    for future in admin.create_topics([topic], operation_timeout=30).values():
        future.result(timeout=30)
    try:
        yield name
    finally:
        for future in admin.delete_topics([name], operation_timeout=30).values():
            future.result(timeout=30)


def _records(count: int) -> list[tuple[bytes, bytes]]:
    now = datetime.now(UTC)
    records = []
    for _ in range(count):
        task_id = uuid7(now)
        value = encode_value(task_value(task_id, created_at_of(task_id), "echo", 0))
        records.append((str(task_id).encode(), value))
    return records


def produce(bootstrap: str, topic: str, count: int) -> float:
    """Seconds to produce `count` records and receive every delivery report."""
    producer = make_producer(bootstrap, delivery_timeout_ms=30000, linger_ms=5)
    records = _records(count)
    headers: list[tuple[str, str | bytes | None]] = [(CORRELATION_HEADER, b"bench-kafka")]
    failed: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _: Message) -> None:
        if err is not None:
            failed.append(err)

    started = time.perf_counter()
    for key, value in records:
        while True:
            try:
                producer.produce(
                    topic, key=key, value=value, headers=headers, on_delivery=on_delivery
                )
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    left = producer.flush(60)
    elapsed = time.perf_counter() - started
    if left or failed:
        raise KafkaBaselineError(f"{left} records in flight and {len(failed)} failed")
    return elapsed


def consume(bootstrap: str, topic: str, count: int, timeout_s: float = 120) -> float:
    """Seconds from the first to the last of `count` records, read as the bridge reads them."""
    settings = BridgeSettings.from_env(kafka_bootstrap_servers=bootstrap, stats_interval_ms=0)
    config = {**settings.consumer_config(), "group.id": f"{topic}-group", "client.id": topic}
    consumer = Consumer(config)
    consumer.subscribe([topic])
    seen, first, last = 0, 0.0, 0.0
    deadline = time.monotonic() + timeout_s
    try:
        while seen < count:
            if time.monotonic() > deadline:
                raise KafkaBaselineError(f"consumed {seen} of {count} records in {timeout_s} s")
            for msg in consumer.consume(num_messages=settings.batch_size, timeout=1.0):
                if msg.error() is not None:
                    continue
                if seen == 0:
                    first = time.perf_counter()
                consumer.store_offsets(message=msg)
                seen += 1
                last = time.perf_counter()
    finally:
        consumer.close()
    return max(last - first, 1e-6)


def rates(bootstrap: str, count: int) -> KafkaRates:
    """Produce then consume `count` records on a throwaway topic."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": "bench"})
    with throwaway_topic(admin) as topic:
        produce_s = produce(bootstrap, topic, count)
        consume_s = consume(bootstrap, topic, count)
    return KafkaRates(count, produce_s, consume_s)
