"""Kafka clients of the webapp package: the relay's producer and topic administration."""

import logging
import time

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from db.topics import DLT_PARTITIONS, DLT_TOPIC, TASKS_PARTITIONS, TASKS_TOPIC

log = logging.getLogger(__name__)

TOPICS = {TASKS_TOPIC: TASKS_PARTITIONS, DLT_TOPIC: DLT_PARTITIONS}


def make_producer(bootstrap_servers: str, *, delivery_timeout_ms: int, linger_ms: int) -> Producer:
    """Create the idempotent producer (acks=all); one per process, made after fork."""
    return Producer(
        {
            "bootstrap.servers": bootstrap_servers,
            "client.id": "outbox-relay",
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": linger_ms,
            "compression.type": "lz4",
            "message.timeout.ms": delivery_timeout_ms,
        }
    )


def make_admin(bootstrap_servers: str) -> AdminClient:
    """Create an admin client (topic creation, readiness checks)."""
    return AdminClient({"bootstrap.servers": bootstrap_servers, "client.id": "taskservice-admin"})


def ensure_topics(
    admin: AdminClient, topics: dict[str, int] | None = None, *, wait_s: float = 60.0
) -> list[str]:
    """Create missing topics with their partition counts; returns the ones created.

    Waits up to `wait_s` for the broker to answer, so it can run right after the broker starts.
    """
    wanted = topics or TOPICS
    deadline = time.monotonic() + wait_s
    while True:
        try:
            existing = set(admin.list_topics(timeout=5).topics)
            break
        except KafkaException as err:
            if time.monotonic() > deadline:
                raise
            log.info("waiting for Kafka: %s", err)
            time.sleep(1)
    missing = [
        NewTopic(name, num_partitions=count, replication_factor=1)
        for name, count in wanted.items()
        if name not in existing
    ]
    if not missing:
        return []
    for future in admin.create_topics(missing, operation_timeout=30).values():
        try:
            future.result()
        except KafkaException as err:
            if err.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return [t.topic for t in missing]
