"""Kafka topics of the service (public API): names, partition counts, and their administration.

They live in `db` beside the outbox and the wire formats, because `db` writes every record and
every other package may import `db`.
"""

import logging
import time
import zlib

from confluent_kafka import (
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    OffsetSpec,
)

log = logging.getLogger(__name__)

TASKS_TOPIC = "tasks"
DLT_TOPIC = "tasks-dlt"
TASKS_PARTITIONS = 32
DLT_PARTITIONS = 4
OUTBOX_CHANNEL = "outbox"
# The bridges' consumer group on TASKS_TOPIC (BRIDGE_GROUP_ID overrides it).
BRIDGE_GROUP_ID = "task-bridge"

TOPICS = {TASKS_TOPIC: TASKS_PARTITIONS, DLT_TOPIC: DLT_PARTITIONS}

# The largest record the service produces, end to end: the relay refuses (parks) anything
# larger before librdkafka would (its message.max.bytes is set a little above, relay/kafka.py),
# the broker and both topics accept a little more (MAX_MESSAGE_BYTES, the broker's default,
# set explicitly on the topics and in ops/kafka/server.properties.in), and a `tasks-dlt`
# record leaves its payload out when it would not fit (db/wire.py). A `tasks` record holds only
# ids, so the API's body limit (WEBAPP_MAX_BODY_BYTES, 1 MiB) bounds what a DLT record carries.
RECORD_MAX_BYTES = 1_000_000
MAX_MESSAGE_BYTES = 1_048_588


def make_admin(bootstrap_servers: str) -> AdminClient:
    """Create an admin client (topic creation, readiness checks, topic depth)."""
    return AdminClient({"bootstrap.servers": bootstrap_servers, "client.id": "taskservice-admin"})


DAY_MS = 24 * 3600 * 1000


def topic_configs(retention_months: int) -> dict[str, dict[str, str]]:
    """The configuration every topic of the service gets, set explicitly rather than left to
    the broker's defaults.

    `tasks-dlt` is kept at least as long as FAILED rows are (their month plus
    `retention_months`, db/retention.py), so a consumer of the topic can still read what an
    operator sees in PostgreSQL; `tasks` records are work in flight, and a week covers any
    outage of the bridge.
    """
    common = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}
    return {
        TASKS_TOPIC: {**common, "retention.ms": str(7 * DAY_MS)},
        DLT_TOPIC: {**common, "retention.ms": str((retention_months + 1) * 31 * DAY_MS)},
    }


def apply_topic_configs(admin: AdminClient, configs: dict[str, dict[str, str]]) -> None:
    """Set these configuration entries on existing topics (others keep their values)."""
    resources = [
        ConfigResource(
            "topic",
            name,
            incremental_configs=[
                ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                for key, value in entries.items()
            ],
        )
        for name, entries in configs.items()
    ]
    for future in admin.incremental_alter_configs(resources).values():
        future.result(timeout=30)


def ensure_topics(
    admin: AdminClient,
    topics: dict[str, int] | None = None,
    *,
    wait_s: float = 60.0,
    configs: dict[str, dict[str, str]] | None = None,
) -> list[str]:
    """Create missing topics with their partition counts and `configs`, and set `configs` on
    the existing ones; returns the topics created.

    Waits up to `wait_s` for the broker to answer, so it can run right after the broker starts.
    """
    wanted = topics or TOPICS
    configs = configs or {}
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
        NewTopic(name, num_partitions=count, replication_factor=1, config=configs.get(name, {}))
        for name, count in wanted.items()
        if name not in existing
    ]
    present = {name: configs[name] for name in wanted if name in existing and name in configs}
    if present:
        apply_topic_configs(admin, present)
    if not missing:
        return []
    for future in admin.create_topics(missing, operation_timeout=30).values():
        try:
            future.result()
        except KafkaException as err:
            if err.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return [t.topic for t in missing]


def _partitions(admin: AdminClient, topic: str, timeout_s: float) -> list[TopicPartition]:
    metadata = admin.list_topics(topic=topic, timeout=timeout_s)
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        raise KafkaException(found.error if found is not None else f"no topic {topic}")
    return [TopicPartition(topic, p) for p in found.partitions]


def _offsets(
    admin: AdminClient, partitions: list[TopicPartition], timeout_s: float
) -> dict[str, dict[int, int]]:
    ends = {}
    specs = {"latest": OffsetSpec.latest(), "earliest": OffsetSpec.earliest()}  # type: ignore[no-untyped-call]
    for spec_name, spec in specs.items():
        futures = admin.list_offsets({tp: spec for tp in partitions}, request_timeout=timeout_s)
        ends[spec_name] = {tp.partition: f.result().offset for tp, f in futures.items()}
    return ends


def topic_depth(admin: AdminClient, topic: str, timeout_s: float = 5.0) -> int:
    """Records a topic retains: the sum over its partitions of latest minus earliest offset."""
    ends = _offsets(admin, _partitions(admin, topic, timeout_s), timeout_s)
    return sum(max(ends["latest"][p] - ends["earliest"][p], 0) for p in ends["latest"])


def consumer_lag(admin: AdminClient, group: str, topic: str, timeout_s: float = 5.0) -> int:
    """Records of `topic` that `group` has not committed yet, summed over the partitions.

    Asked of the broker rather than of the consumers, so it is known (and growing) while no
    consumer of the group runs.
    """
    return sum(partition_lags(admin, group, topic, timeout_s).values())


def partition_lags(
    admin: AdminClient, group: str, topic: str, timeout_s: float = 5.0
) -> dict[int, int]:
    """Records of each partition of `topic` that `group` has not committed yet.

    A partition without a committed offset counts from its earliest record, as the bridge's
    `auto.offset.reset=earliest` would read it.
    """
    partitions = _partitions(admin, topic, timeout_s)
    ends = _offsets(admin, partitions, timeout_s)
    request = [ConsumerGroupTopicPartitions(group, partitions)]
    futures = admin.list_consumer_group_offsets(request, request_timeout=timeout_s)
    committed = {tp.partition: tp.offset for tp in futures[group].result().topic_partitions}
    lags = {}
    for partition, latest in ends["latest"].items():
        start = committed.get(partition, -1)
        if start < 0:
            start = ends["earliest"][partition]
        lags[partition] = max(latest - start, 0)
    return lags


# The relay's producer uses librdkafka's `consistent_random` partitioner (relay/kafka.py):
# CRC-32 of the key modulo the partition count.
PARTITIONER = "consistent_random"


def key_partition(key: str, partitions: int) -> int:
    """The partition `PARTITIONER` sends a record with a non-empty `key` to."""
    return zlib.crc32(key.encode()) % partitions
