"""The relay's Kafka producer."""

from confluent_kafka import Producer

from db.topics import MAX_MESSAGE_BYTES, PARTITIONER


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
            # Named rather than left to the default: the reconciler computes a task's partition
            # from its key (db/topics.py key_partition) to ask whether the bridges passed it.
            "partitioner": PARTITIONER,
            "message.timeout.ms": delivery_timeout_ms,
            # Above the relay's own limit (RECORD_MAX_BYTES), so an oversized record is parked
            # by the relay with its reason rather than refused here.
            "message.max.bytes": MAX_MESSAGE_BYTES,
        }
    )
