"""Queue-health gauges against the real PostgreSQL (test database) and Kafka."""

import time

import sqlalchemy as sa
from confluent_kafka import Producer

from db.queue_health import oldest_pending_age_s, tasks_by_status
from db.tasks_repo import NewTask, insert_tasks
from db.topics import topic_depth
from relay import metrics
from relay.queue_health import QueueHealth
from tests.conftest import KAFKA


def _value(gauge, **labels: str) -> float:
    for metric in gauge.collect():
        for sample in metric.samples:
            if sample.labels == labels:
                return sample.value
    raise AssertionError(f"no sample {labels}")


def test_counts_and_oldest_pending_age_follow_the_task_table(engine: sa.Engine, clean_outbox):
    with engine.connect() as conn:
        before = tasks_by_status(conn)
    with engine.begin() as conn:
        insert_tasks(
            conn, [NewTask(type="echo", payload={"n": n}, max_attempts=3) for n in range(3)]
        )
    time.sleep(1.1)
    with engine.connect() as conn:
        after = tasks_by_status(conn)
        age = oldest_pending_age_s(conn)
    assert after["PENDING"] == before["PENDING"] + 3
    assert set(after) == {"SCHEDULED", "PENDING", "PROCESSING", "RETRYING"}
    assert age >= 1.0


def test_topic_depth_counts_records_a_topic_retains(kafka_admin, topic: str):
    producer = Producer({"bootstrap.servers": KAFKA})
    for i in range(5):
        producer.produce(topic, key=str(i), value=b"{}", partition=i % 4)
    # Once the producer is done every partition has a leader, which list_offsets needs.
    assert producer.flush(20) == 0
    assert topic_depth(kafka_admin, topic) == 5


def test_refresh_sets_every_gauge_and_the_timestamp(engine: sa.Engine, kafka_admin, clean_outbox):
    with engine.begin() as conn:
        insert_tasks(conn, [NewTask(type="echo", payload={}, max_attempts=3)])
    started = time.time()
    QueueHealth(engine, kafka_admin).refresh()
    with engine.connect() as conn:
        counts = tasks_by_status(conn)
    assert _value(metrics.TASKS_BY_STATUS, status="PENDING") == counts["PENDING"] >= 1
    assert _value(metrics.OLDEST_PENDING_AGE) >= 0
    assert _value(metrics.DEFAULT_PARTITION_ROWS) >= 0
    assert _value(metrics.DLT_DEPTH) >= 0
    assert _value(metrics.QUEUE_HEALTH_UPDATED) >= started
