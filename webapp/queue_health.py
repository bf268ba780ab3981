"""Queue-health gauges no peer exports out of the box: tasks by status, the oldest PENDING task,
the dead-letter topic's depth and the default partition's rows.

The relay refreshes them on a timer in a thread of its own: a single process, so PostgreSQL and
Kafka are asked once per interval however many scrapes arrive, and a slow query can never make a
scrape time out (the gauges then keep their last values and the refresh timestamp stops moving,
which an alert watches).
"""

import logging
import threading
import time

import sqlalchemy as sa
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]

from db.partitions import default_partition_rows
from db.queue_health import oldest_pending_age_s, tasks_by_status
from db.topics import DLT_TOPIC
from webapp import metrics

log = logging.getLogger(__name__)

# A refresh must not hold a connection for long on a busy primary.
STATEMENT_TIMEOUT_MS = 5000


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


class QueueHealth:
    """Refreshes the queue-health gauges from PostgreSQL and Kafka."""

    def __init__(self, engine: sa.Engine, admin: AdminClient) -> None:
        self.engine = engine
        self.admin = admin

    def refresh(self) -> None:
        """Query everything once and set the gauges; raises when a source does not answer."""
        with self.engine.begin() as conn:
            conn.execute(sa.text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
            counts = tasks_by_status(conn)
            oldest_s = oldest_pending_age_s(conn)
            default_rows = default_partition_rows(conn)
        dlt_depth = topic_depth(self.admin, DLT_TOPIC)
        for status, count in counts.items():
            metrics.TASKS_BY_STATUS.labels(status).set(count)
        metrics.OLDEST_PENDING_AGE.set(oldest_s)
        metrics.DEFAULT_PARTITION_ROWS.set(default_rows)
        metrics.DLT_DEPTH.set(dlt_depth)
        metrics.QUEUE_HEALTH_UPDATED.set(time.time())

    def run(self, interval_s: float, stop: threading.Event) -> None:
        """Refresh every `interval_s` until `stop` is set; failures are logged and counted."""
        while not stop.is_set():
            try:
                self.refresh()
            except (sa.exc.SQLAlchemyError, KafkaException) as err:
                metrics.QUEUE_HEALTH_ERRORS.inc()
                log.warning("queue-health refresh failed: %s", err)
            stop.wait(interval_s)

    def start(self, interval_s: float, stop: threading.Event) -> threading.Thread:
        """Run the refresh loop in a daemon thread."""
        thread = threading.Thread(
            target=self.run, args=(interval_s, stop), name="queue-health", daemon=True
        )
        thread.start()
        return thread
