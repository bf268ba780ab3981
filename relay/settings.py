"""Settings of the outbox relay process (RELAY_*, DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS)."""

from pathlib import Path

from pydantic import Field

from db.topics import RECORD_MAX_BYTES
from taskkit.settings import DatabaseFields, KafkaFields, LogSettings, log_settings_field


class RelaySettings(DatabaseFields, KafkaFields, env_prefix="RELAY_"):
    """Settings of the outbox relay process."""

    log: LogSettings = log_settings_field()
    batch_size: int = Field(500, gt=0)
    sweep_interval_s: float = Field(1.0, gt=0)
    # Every message is either acknowledged or failed within this bound, so the relay can wait
    # for all delivery reports of a batch before deleting its rows (no unresolved leftovers
    # that Kafka could still accept after the rows were claimed again).
    delivery_timeout_ms: int = Field(15000, gt=0)
    linger_ms: int = Field(5, ge=0)
    # Larger records are parked before librdkafka sees them (db/topics.py, RECORD_MAX_BYTES).
    max_record_bytes: int = Field(RECORD_MAX_BYTES, gt=0)
    error_backoff_s: float = Field(1.0, ge=0)
    metrics_port: int = Field(9101, ge=0, le=65535)
    # 0.0.0.0 in a container, so Prometheus in another container can scrape it.
    metrics_address: str = "127.0.0.1"
    # How often the relay refreshes the queue-health gauges (relay/queue_health.py).
    health_interval_s: float = Field(15.0, gt=0)
    # Completion webhooks (relay/webhooks.py): how many deliveries one try takes, how often
    # the relay looks for due ones, each request's timeout, the retry backoff, and how long
    # after the task ended a delivery keeps being retried before it is failed for good.
    webhook_batch: int = Field(50, gt=0)
    webhook_poll_interval_s: float = Field(0.5, gt=0)
    webhook_timeout_s: float = Field(5.0, gt=0)
    webhook_retry_base_s: float = Field(1.0, gt=0)
    webhook_retry_max_s: float = Field(300.0, gt=0)
    webhook_max_age_s: float = Field(86400.0, gt=0)
    # See WEBAPP_WEBHOOKS_ALLOW_PRIVATE: checked again before every delivery.
    webhooks_allow_private: bool = False
    # Touched after every step of the loop; a liveness probe checks its age (taskkit/heartbeat.py).
    heartbeat_file: Path | None = None
