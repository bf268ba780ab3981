"""Settings of the Celery app, the workers and beat, read from the environment."""

import os
from collections.abc import Mapping
from dataclasses import dataclass

from db.retention import DEFAULT_RETENTION_MONTHS


@dataclass(frozen=True)
class CelerySettings:
    """Everything the worker side needs; built once at the entry point."""

    broker_url: str = "redis://127.0.0.1:6379/1"
    database_url: str = "postgresql+psycopg://tasks:tasks@127.0.0.1:5432/tasks"
    redis_url: str = "redis://127.0.0.1:6379/0"
    retry_backoff_s: int = 2
    retry_backoff_max_s: int = 600
    default_soft_time_limit_s: int = 60
    default_time_limit_s: int = 90
    lease_grace_s: int = 15
    # Must exceed the longest backoff plus the hard time limit, or Redis redelivers messages
    # that a worker is still holding for a later attempt.
    visibility_timeout_s: int = 3600
    reconcile_interval_s: float = 15.0
    reconcile_pending_after_s: int = 30
    reconcile_retrying_grace_s: int = 60
    reconcile_batch: int = 500
    reconcile_max_batches: int = 20
    partitions_ahead_months: int = 3
    # Due SCHEDULED tasks are dispatched within about this long of their run_at (issue 5).
    scheduled_dispatch_interval_s: float = 1.0
    scheduled_dispatch_batch: int = 1000
    retention_months: int = DEFAULT_RETENTION_MONTHS
    # Lets the `crash` handler kill its worker process (fault drills); off in production.
    fault_injection: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "CelerySettings":
        """Read settings from environment variables, falling back to the local stack."""
        d = cls()
        broker = env.get("CELERY_BROKER_URL", d.broker_url)
        return cls(
            broker_url=broker,
            database_url=env.get("DATABASE_URL", d.database_url),
            redis_url=env.get("REDIS_URL", d.redis_url),
            retry_backoff_s=int(env.get("CELERY_TASKS_RETRY_BACKOFF_S", d.retry_backoff_s)),
            retry_backoff_max_s=int(
                env.get("CELERY_TASKS_RETRY_BACKOFF_MAX_S", d.retry_backoff_max_s)
            ),
            default_soft_time_limit_s=int(
                env.get("CELERY_TASKS_SOFT_TIME_LIMIT_S", d.default_soft_time_limit_s)
            ),
            default_time_limit_s=int(env.get("CELERY_TASKS_TIME_LIMIT_S", d.default_time_limit_s)),
            visibility_timeout_s=int(
                env.get("CELERY_TASKS_VISIBILITY_TIMEOUT_S", d.visibility_timeout_s)
            ),
            reconcile_interval_s=float(
                env.get("CELERY_TASKS_RECONCILE_INTERVAL_S", d.reconcile_interval_s)
            ),
            reconcile_pending_after_s=int(
                env.get("CELERY_TASKS_RECONCILE_PENDING_AFTER_S", d.reconcile_pending_after_s)
            ),
            partitions_ahead_months=int(
                env.get("CELERY_TASKS_PARTITIONS_AHEAD", d.partitions_ahead_months)
            ),
            scheduled_dispatch_interval_s=float(
                env.get(
                    "CELERY_TASKS_SCHEDULED_DISPATCH_INTERVAL_S", d.scheduled_dispatch_interval_s
                )
            ),
            retention_months=int(env.get("CELERY_TASKS_RETENTION_MONTHS", d.retention_months)),
            fault_injection=env.get("CELERY_TASKS_FAULT_INJECTION", "0") in {"1", "true", "yes"},
        )


LOG_FORMATS = ("human", "json")


@dataclass(frozen=True)
class LogSettings:
    """How every process writes its log lines (celery_tasks/logsetup.py); shared by all
    entry points, which is why it lives in the package every other one may import."""

    format: str = "human"
    level: str = "INFO"
    # Overrides the name each entry point gives itself ("api", "relay", "worker", ...).
    service: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "LogSettings":
        """Read LOG_FORMAT, LOG_LEVEL and LOG_SERVICE; an unknown format is refused at start."""
        log_format = env.get("LOG_FORMAT", cls.format).strip().lower() or cls.format
        if log_format not in LOG_FORMATS:
            raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}: {log_format!r}")
        return cls(
            format=log_format,
            level=env.get("LOG_LEVEL", cls.level).strip().upper() or cls.level,
            service=env.get("LOG_SERVICE") or None,
        )


@dataclass(frozen=True)
class WorkerMetricsSettings:
    """Where a worker serves the Prometheus metrics of all its prefork children."""

    port: int = 9103
    address: str = "127.0.0.1"
    # prometheus_client's multiprocess mode: every child writes its samples here and the
    # parent's endpoint adds them up; without it a scrape sees one random child.
    multiproc_dir: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "WorkerMetricsSettings":
        """Read CELERY_TASKS_METRICS_PORT / _ADDRESS and PROMETHEUS_MULTIPROC_DIR."""
        return cls(
            port=int(env.get("CELERY_TASKS_METRICS_PORT", cls.port)),
            address=env.get("CELERY_TASKS_METRICS_ADDRESS", cls.address),
            multiproc_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or None,
        )
