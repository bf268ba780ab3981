"""The bridge against a real Kafka broker and a real Redis Celery broker."""

import json
import time
import uuid

from confluent_kafka import OFFSET_INVALID, Consumer, Producer, TopicPartition

from bridge.consumer import Bridge, make_consumer
from bridge.dispatch import celery_dispatch
from bridge.settings import BridgeSettings
from celery_tasks.config import make_celery
from celery_tasks.send import batched, send_execute
from celery_tasks.settings import BrokerSettings
from db.ids import uuid7
from tests.conftest import KAFKA, TEST_BROKER_URL


def _produce(topic: str, count: int) -> list[str]:
    producer = Producer({"bootstrap.servers": KAFKA, "enable.idempotence": True, "acks": "all"})
    ids = []
    for i in range(count):
        task_id = str(uuid7())
        ids.append(task_id)
        value = json.dumps({"id": task_id, "type": "echo", "priority": i % 10})
        producer.produce(topic, key=task_id, value=value, headers=[("correlation_id", b"c-%d" % i)])
    assert producer.flush(20) == 0
    return ids


def _settings(topic: str, group: str) -> BridgeSettings:
    return BridgeSettings(kafka_bootstrap_servers=KAFKA, topic=topic, group_id=group, batch_size=50)


def _dispatcher(broker_url: str):
    return celery_dispatch(make_celery(BrokerSettings(broker_url=broker_url)))


def _run_until(bridge: Bridge, done, timeout_s: float = 30.0) -> None:
    bridge.subscribe()
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        bridge.process_batch()


def _deferred_by_a_broker_outage(settings: BridgeSettings) -> int:
    """Run a bridge whose Celery broker is unreachable (nothing listens on port 1, like an
    outage) until it puts a batch back; the records it deferred."""
    failing = Bridge(make_consumer(settings), _dispatcher("redis://127.0.0.1:1/0"), settings)
    failing.subscribe()
    deferred = 0
    deadline = time.monotonic() + 30
    while deferred == 0 and time.monotonic() < deadline:
        deferred += failing.process_batch().deferred
    failing.consumer.close()
    return deferred


def _committed(topic: str, group: str, partitions: int = 4) -> list[int]:
    consumer = Consumer({"bootstrap.servers": KAFKA, "group.id": group})
    offsets = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    consumer.close()
    return [tp.offset for tp in offsets]


def _committed_total(topic: str, group: str) -> int:
    # A partition that received no record has nothing committed (OFFSET_INVALID), not -1001.
    return sum(max(offset, 0) for offset in _committed(topic, group))


def _queued_task_ids(broker) -> list[str]:
    ids = []
    for key in broker.keys("tasks*"):
        for raw in broker.lrange(key, 0, -1):
            message = json.loads(raw)
            ids.append(message["headers"]["argsrepr"].strip("[]'\""))
    return ids


def test_bridge_dispatches_every_record_then_commits_offsets(topic, test_broker):
    ids = _produce(topic, 40)
    group = f"it-{uuid.uuid4().hex}"
    settings = _settings(topic, group)
    bridge = Bridge(make_consumer(settings), _dispatcher(TEST_BROKER_URL), settings)
    _run_until(bridge, lambda: len(_queued_task_ids(test_broker)) >= 40)
    bridge.consumer.close()
    assert sorted(_queued_task_ids(test_broker)) == sorted(ids)
    assert _committed_total(topic, group) == 40


def test_bridge_stores_no_offset_when_celery_rejects_and_redelivers_later(topic, test_broker):
    ids = _produce(topic, 12)
    group = f"it-{uuid.uuid4().hex}"
    settings = _settings(topic, group)
    assert _deferred_by_a_broker_outage(settings) > 0
    assert all(offset == OFFSET_INVALID for offset in _committed(topic, group))

    working = Bridge(make_consumer(settings), _dispatcher(TEST_BROKER_URL), settings)
    _run_until(working, lambda: len(_queued_task_ids(test_broker)) >= 12)
    working.consumer.close()
    assert sorted(_queued_task_ids(test_broker)) == sorted(ids)
    assert _committed_total(topic, group) == 12


def test_undecodable_record_is_skipped_and_committed(topic, test_broker):
    producer = Producer({"bootstrap.servers": KAFKA})
    producer.produce(topic, key="k", value=b"not json", partition=0)
    good = str(uuid7())
    producer.produce(topic, key=good, value=json.dumps({"id": good, "type": "echo"}), partition=0)
    assert producer.flush(10) == 0
    group = f"it-{uuid.uuid4().hex}"
    settings = _settings(topic, group)
    bridge = Bridge(make_consumer(settings), _dispatcher(TEST_BROKER_URL), settings)
    _run_until(bridge, lambda: len(_queued_task_ids(test_broker)) >= 1)
    bridge.consumer.close()
    assert _queued_task_ids(test_broker) == [good]
    assert _committed(topic, group)[0] == 2


def test_a_refused_batch_commits_nothing_not_even_its_undecodable_record(topic, test_broker):
    producer = Producer({"bootstrap.servers": KAFKA})
    producer.produce(topic, key="k", value=b"not json", partition=0)
    good = [str(uuid7()) for _ in range(5)]
    for task_id in good:
        producer.produce(
            topic, key=task_id, value=json.dumps({"id": task_id, "type": "echo"}), partition=0
        )
    assert producer.flush(10) == 0
    group = f"it-{uuid.uuid4().hex}"
    settings = _settings(topic, group)
    assert _deferred_by_a_broker_outage(settings) > 0
    # The undecodable record came first, but its offset would have committed the partition
    # past records Celery never took.
    assert _committed(topic, group)[0] == OFFSET_INVALID

    working = Bridge(make_consumer(settings), _dispatcher(TEST_BROKER_URL), settings)
    _run_until(working, lambda: len(_queued_task_ids(test_broker)) >= 5)
    working.consumer.close()
    assert sorted(_queued_task_ids(test_broker)) == sorted(good)
    assert _committed(topic, group)[0] == 6


def test_the_brokers_configuration_lets_a_batch_go_in_one_pipeline(test_broker):
    # kombu publishes one by one, silently, when the transport could replay a pipeline
    # (retry_on_timeout); the bridge's throughput rests on this staying true.
    app = make_celery(BrokerSettings(broker_url=TEST_BROKER_URL))
    with batched(app, 10) as producer:
        assert producer.supports_batch_publish
        ids = [send_execute(app, str(uuid7()), "echo", producer=producer) for _ in range(2)]
        # Buffered until the block ends.
        assert _queued_task_ids(test_broker) == []
    assert len(set(ids)) == 2
    assert len(_queued_task_ids(test_broker)) == 2
