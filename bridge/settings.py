"""Settings of the bridge process (BRIDGE_*, KAFKA_BOOTSTRAP_SERVERS and the Celery broker)."""

from pathlib import Path

from pydantic import Field

from celery_tasks.settings import BrokerSettings
from db.topics import BRIDGE_GROUP_ID, TASKS_TOPIC
from taskkit.settings import KafkaFields, LogSettings, log_settings_field


class BridgeSettings(KafkaFields, env_prefix="BRIDGE_"):
    """Kafka consumer settings of the bridge and the broker it sends Celery messages to."""

    broker: BrokerSettings = Field(default_factory=BrokerSettings.from_env)
    log: LogSettings = log_settings_field()
    topic: str = TASKS_TOPIC
    group_id: str = BRIDGE_GROUP_ID
    batch_size: int = Field(500, gt=0)
    poll_timeout_s: float = Field(1.0, gt=0)
    retry_backoff_s: float = Field(1.0, ge=0)
    metrics_port: int = Field(9102, ge=0, le=65535)
    # 0.0.0.0 in a container, so Prometheus in another container can scrape it.
    metrics_address: str = "127.0.0.1"
    # How often librdkafka reports statistics, from which the per-partition lag gauge comes.
    stats_interval_ms: int = Field(5000, ge=0)
    # Touched after every batch; a liveness probe checks its age (taskkit/heartbeat.py).
    heartbeat_file: Path | None = None

    def consumer_config(self) -> dict[str, object]:
        """librdkafka configuration of the consumer (docs/architecture.md, "Kafka")."""
        return {
            "bootstrap.servers": self.kafka_bootstrap_servers,
            "group.id": self.group_id,
            "client.id": "task-bridge",
            # Offsets are stored by hand once Celery holds the message, and committed in the
            # background; a crash before that replays the record, which the worker dedupes.
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,
            "auto.commit.interval.ms": 1000,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": 30000,
            "max.poll.interval.ms": 300000,
            "statistics.interval.ms": self.stats_interval_ms,
        }
