"""Reading and filtering the dead-letter topic `tasks-dlt`."""

import dataclasses
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from db.errors import RecordDecodeError
from db.topics import DLT_TOPIC
from db.wire import DltRecord, decode_dlt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DltFilter:
    """Which records an operator asked for; empty fields match everything."""

    types: frozenset[str] = frozenset()
    error_types: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None
    task_ids: frozenset[str] = frozenset()
    payload: dict[str, Any] = field(default_factory=dict)

    def matches(self, record: DltRecord) -> bool:
        """Whether `record` passes every given filter."""
        if self.types and record.type not in self.types:
            return False
        if self.error_types and record.error_type not in self.error_types:
            return False
        if self.task_ids and record.task_id not in self.task_ids:
            return False
        if self.since and (record.failed_at is None or record.failed_at < self.since):
            return False
        if self.until and (record.failed_at is None or record.failed_at >= self.until):
            return False
        return all(record.payload.get(k) == v for k, v in self.payload.items())


def parse_payload_filter(pairs: tuple[str, ...]) -> dict[str, Any]:
    """`key=value` pairs; a value that parses as JSON is compared as JSON, else as a string."""
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected key=value, got {pair!r}")
        try:
            parsed[key] = json.loads(raw)
        except json.JSONDecodeError:
            parsed[key] = raw
    return parsed


def latest_records(records: Iterable[DltRecord]) -> list[DltRecord]:
    """The latest record of each task, oldest failure first. Filters apply to these only, so a
    task matches on its current failure, not on an earlier one it was re-driven after."""
    latest: dict[str, DltRecord] = {}
    for record in records:
        latest[record.task_id] = record
    return sorted(latest.values(), key=lambda r: r.failed_at or datetime.min.replace(tzinfo=UTC))


def read_dlt(
    bootstrap_servers: str, *, topic: str = DLT_TOPIC, timeout_s: float = 10.0
) -> Iterator[DltRecord]:
    """Every record of the topic from its start up to the end it had when reading began.

    Partitions are assigned directly (no consumer group), so reading commits nothing and
    never disturbs another reader.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": "taskctl-dlt-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
        partitions = sorted(metadata.topics[topic].partitions)
        ends: dict[int, int] = {}
        assignment = []
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            if high > low:
                ends[p] = high
                assignment.append(TopicPartition(topic, p, low))
        if not assignment:
            return
        consumer.assign(assignment)
        while ends:
            msg = consumer.poll(timeout_s)
            if msg is None:
                raise TimeoutError(f"no record from {topic} within {timeout_s}s")
            if msg.error() is not None:
                continue
            partition, offset = msg.partition() or 0, msg.offset() or 0
            if partition not in ends or offset >= ends[partition]:
                continue
            if offset + 1 >= ends[partition]:
                del ends[partition]
            try:
                record = decode_dlt(msg.value(), msg.headers())  # type: ignore[arg-type]
            except RecordDecodeError as err:
                log.warning("skipping %s[%s]@%s: %s", topic, partition, offset, err)
                continue
            yield dataclasses.replace(record, partition=partition, offset=offset)
    finally:
        consumer.close()
