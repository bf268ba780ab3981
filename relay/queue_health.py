"""Queue-health gauges no peer exports out of the box: tasks by status, the oldest PENDING task,
the dead-letter topic's depth and the default partition's rows.

The relay refreshes them on a timer in a thread of its own: a single process, so PostgreSQL and
Kafka are asked once per interval however many scrapes arrive, and a slow query can never make a
scrape time out (the gauges then keep their last values and the refresh timestamp stops moving,
which an alert watches).
"""

import threading
import time

import sqlalchemy as sa
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from db.partitions import default_partition_rows
from db.queue_health import oldest_pending_age_s, tasks_by_status
from db.topics import DLT_TOPIC, topic_depth
from relay import metrics
from taskkit.loop import ProcessLoop

# A refresh must not hold a connection for long on a busy primary.
STATEMENT_TIMEOUT_MS = 5000
ERRORS = (sa.exc.SQLAlchemyError, KafkaException)


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

    def start(self, interval_s: float, stop: threading.Event) -> threading.Thread:
        """Refresh every `interval_s` in a daemon thread until `stop` is set; failures are
        logged, counted and retried at the next interval."""

        def step() -> float:
            self.refresh()
            return interval_s

        loop = ProcessLoop(
            "queue-health",
            retry_on=ERRORS,
            error_backoff_s=interval_s,
            on_error=lambda _err: metrics.QUEUE_HEALTH_ERRORS.inc(),
            stop=stop,
        )
        return loop.start_thread(step)
