"""Settings of the Celery side: the broker (every process that sends or runs Celery tasks) and
the workers and beat, read from the environment (CELERY_BROKER_URL, CELERY_TASKS_*)."""

from pathlib import Path

from pydantic import Field

from db.retention import DEFAULT_RETENTION_MONTHS
from db.topics import BRIDGE_GROUP_ID
from taskkit.settings import (
    BrokerFields,
    DatabaseFields,
    KafkaFields,
    LogSettings,
    RedisFields,
    log_settings_field,
)


class BrokerSettings(BrokerFields, env_prefix="CELERY_TASKS_"):
    """What a Celery app needs to reach the broker: the bridge sends with it, workers consume."""

    # Must exceed the longest backoff plus the hard time limit, or Redis redelivers messages
    # that a worker is still holding for a later attempt.
    visibility_timeout_s: int = Field(3600, gt=0)


class WorkerSettings(DatabaseFields, RedisFields, KafkaFields, env_prefix="CELERY_TASKS_"):
    """Everything the workers and beat need; built once at the entry point."""

    broker: BrokerSettings = Field(default_factory=BrokerSettings.from_env)
    log: LogSettings = log_settings_field()
    retry_backoff_s: int = Field(2, gt=0)
    retry_backoff_max_s: int = Field(600, gt=0)
    soft_time_limit_s: int = Field(60, gt=0)
    time_limit_s: int = Field(90, gt=0)
    # An attempt's lease (PostgreSQL) and lock (Redis) last this long and are renewed every
    # `heartbeat_interval_s` while the attempt runs, whatever its time limit; a worker that
    # dies, wherever it runs, is noticed within the lease (celery_tasks/lease.py).
    lease_s: float = Field(20.0, gt=0)
    heartbeat_interval_s: float = Field(5.0, gt=0)
    # How long a final write (COMPLETED, RETRYING, FAILED) is retried while PostgreSQL does
    # not answer, so a handler that succeeded is not re-run because one commit failed.
    commit_retry_s: float = Field(120.0, ge=0)
    # Retries of a delivery whose claim or lock failed on our own clients (database, Redis);
    # backoff grows to retry_backoff_max_s, so this bounds the outage a message outlives.
    transient_max_retries: int = Field(100, ge=0)
    reconcile_interval_s: float = Field(5.0, gt=0)
    # A waiting task is presumed lost only after this long without news (beyond the broker's
    # visibility timeout, after which Redis itself restores a dead worker's messages), and
    # each later time after twice as long: db/reconcile.py says why.
    reconcile_lost_after_s: float = Field(3900.0, gt=0)
    # An execute message a worker took from Redis and has not claimed for this long belongs
    # to a worker that is gone, and goes back to its queue (celery_tasks/orphans.py).
    reconcile_orphan_after_s: float = Field(30.0, gt=0)
    # A waiting task without news this long is looked for in Kafka, its queue and the workers'
    # unacknowledged messages, and published again when it is in none (celery_tasks/vanished.py)
    # while the queue and `unacked` each hold at most `reconcile_scan_limit` messages.
    reconcile_vanished_after_s: float = Field(120.0, gt=0)
    reconcile_scan_limit: int = Field(5000, ge=0)
    # The bridges' consumer group, whose committed offsets say which records reached Celery.
    bridge_group_id: str = Field(BRIDGE_GROUP_ID, validation_alias="BRIDGE_GROUP_ID")
    reconcile_batch: int = Field(500, gt=0)
    reconcile_max_batches: int = Field(20, gt=0)
    partitions_ahead_months: int = Field(3, ge=0, validation_alias="CELERY_TASKS_PARTITIONS_AHEAD")
    # Due SCHEDULED tasks are dispatched within about this long of their run_at.
    scheduled_dispatch_interval_s: float = Field(1.0, gt=0)
    scheduled_dispatch_batch: int = Field(1000, gt=0)
    retention_months: int = Field(DEFAULT_RETENTION_MONTHS, ge=1)
    # Lets the `crash` handler kill its worker process (fault drills); off in production.
    fault_injection: bool = False
    # Where a worker serves the Prometheus metrics of all its prefork children.
    metrics_port: int = Field(9103, ge=0, le=65535)
    # 0.0.0.0 in a container, so Prometheus in another container can scrape it.
    metrics_address: str = "127.0.0.1"
    # prometheus_client's multiprocess mode: every child writes its samples here and the
    # parent's endpoint adds them up; without it a scrape sees one random child.
    multiproc_dir: str | None = Field(None, validation_alias="PROMETHEUS_MULTIPROC_DIR")
    # Touched by a worker at each event heartbeat and by beat at each tick; a liveness probe
    # checks its age (taskkit/heartbeat.py).
    heartbeat_file: Path | None = None
