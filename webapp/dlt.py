"""Reading and filtering the dead-letter topic `tasks-dlt`."""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from db.topics import DLT_TOPIC


@dataclass(frozen=True)
class DltRecord:
    """One dead-letter record: the task, why it failed, and where it sits in the topic."""

    task_id: str
    type: str
    error: str | None
    error_type: str | None
    attempts: int
    failed_at: datetime | None
    correlation_id: str | None
    payload: dict[str, Any]
    partition: int
    offset: int

    def summary(self) -> dict[str, Any]:
        """The record as plain JSON values (for `--json`)."""
        return {
            "id": self.task_id,
            "type": self.type,
            "error_type": self.error_type,
            "error": self.error,
            "attempts": self.attempts,
            "failed_at": self.failed_at.isoformat() if self.failed_at else None,
            "correlation_id": self.correlation_id,
            "payload": self.payload,
            "partition": self.partition,
            "offset": self.offset,
        }


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


def decode_dlt(value: bytes | None, partition: int, offset: int) -> DltRecord | None:
    """Decode one record; None for a record that is not a DLT record of this service."""
    if not value:
        return None
    try:
        body = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        return None
    failed_at = body.get("failed_at")
    payload = body.get("payload")
    return DltRecord(
        task_id=body["id"],
        type=str(body.get("type", "")),
        error=body.get("error"),
        error_type=body.get("error_type"),
        attempts=int(body.get("attempts") or 0),
        failed_at=datetime.fromisoformat(failed_at) if isinstance(failed_at, str) else None,
        correlation_id=body.get("correlation_id"),
        payload=payload if isinstance(payload, dict) else {},
        partition=partition,
        offset=offset,
    )


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
            record = decode_dlt(msg.value(), partition, offset)
            if record is not None:
                yield record
    finally:
        consumer.close()
