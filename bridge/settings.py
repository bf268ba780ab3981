"""Settings of the bridge process, read from the environment at its entry point."""

import os
from collections.abc import Mapping
from dataclasses import dataclass

from db.topics import TASKS_TOPIC


@dataclass(frozen=True)
class BridgeSettings:
    """Kafka consumer settings of the bridge (the Celery side reads its own)."""

    bootstrap_servers: str = "127.0.0.1:9092"
    topic: str = TASKS_TOPIC
    group_id: str = "task-bridge"
    batch_size: int = 500
    poll_timeout_s: float = 1.0
    retry_backoff_s: float = 1.0
    metrics_port: int = 9102
    # 0.0.0.0 in a container, so Prometheus in another container can scrape it.
    metrics_address: str = "127.0.0.1"
    # How often librdkafka reports statistics, from which the per-partition lag gauge comes.
    stats_interval_ms: int = 5000

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "BridgeSettings":
        """Read settings from environment variables, falling back to the local stack."""
        d = cls()
        return cls(
            bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", d.bootstrap_servers),
            topic=env.get("BRIDGE_TOPIC", d.topic),
            group_id=env.get("BRIDGE_GROUP_ID", d.group_id),
            batch_size=int(env.get("BRIDGE_BATCH_SIZE", d.batch_size)),
            metrics_port=int(env.get("BRIDGE_METRICS_PORT", d.metrics_port)),
            metrics_address=env.get("BRIDGE_METRICS_ADDRESS", d.metrics_address),
            stats_interval_ms=int(env.get("BRIDGE_STATS_INTERVAL_MS", d.stats_interval_ms)),
        )

    def consumer_config(self) -> dict[str, object]:
        """librdkafka configuration of the consumer (DESIGN.md, "Kafka")."""
        return {
            "bootstrap.servers": self.bootstrap_servers,
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
