"""Topic figures asked of the real broker: the consumer lag of a group (the console's)."""

import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

from db.topics import consumer_lag
from tests.conftest import KAFKA


def test_consumer_lag_counts_records_past_each_committed_offset(kafka_admin, topic: str):
    producer = Producer({"bootstrap.servers": KAFKA})
    for i in range(8):
        producer.produce(topic, key=str(i), value=b"{}", partition=i % 4)
    assert producer.flush(20) == 0
    group = f"it-lag-{uuid.uuid4().hex[:8]}"
    # A group that never committed counts from the earliest record (auto.offset.reset).
    assert consumer_lag(kafka_admin, group, topic) == 8
    consumer = Consumer({"bootstrap.servers": KAFKA, "group.id": group})
    try:
        consumer.commit(
            offsets=[TopicPartition(topic, 0, 2), TopicPartition(topic, 1, 1)],
            asynchronous=False,
        )
    finally:
        consumer.close()
    assert consumer_lag(kafka_admin, group, topic) == 8 - 2 - 1
