"""Kafka topics of the service (public API): names, partition counts, and their administration.

They live in `db` beside the outbox and the wire formats, because `db` writes every record and
every other package may import `db`.
"""

import logging
import time

from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec  # type: ignore[attr-defined]

log = logging.getLogger(__name__)

TASKS_TOPIC = "tasks"
DLT_TOPIC = "tasks-dlt"
TASKS_PARTITIONS = 32
DLT_PARTITIONS = 4
OUTBOX_CHANNEL = "outbox"

TOPICS = {TASKS_TOPIC: TASKS_PARTITIONS, DLT_TOPIC: DLT_PARTITIONS}


def make_admin(bootstrap_servers: str) -> AdminClient:
    """Create an admin client (topic creation, readiness checks, topic depth)."""
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


def topic_depth(admin: AdminClient, topic: str, timeout_s: float = 5.0) -> int:
    """Records a topic retains: the sum over its partitions of latest minus earliest offset."""
    metadata = admin.list_topics(topic=topic, timeout=timeout_s)
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        raise KafkaException(found.error if found is not None else f"no topic {topic}")
    partitions = [TopicPartition(topic, p) for p in found.partitions]
    ends = {}
    specs = {"latest": OffsetSpec.latest(), "earliest": OffsetSpec.earliest()}  # type: ignore[no-untyped-call]
    for spec_name, spec in specs.items():
        futures = admin.list_offsets({tp: spec for tp in partitions}, request_timeout=timeout_s)
        ends[spec_name] = {tp.partition: f.result().offset for tp, f in futures.items()}
    return sum(max(ends["latest"][p] - ends["earliest"][p], 0) for p in ends["latest"])
