"""Settings of the Celery app, the workers and beat, read from the environment."""

import os
from collections.abc import Mapping
from dataclasses import dataclass


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
    reconcile_pending_after_s: int = 60
    reconcile_retrying_grace_s: int = 60
    reconcile_batch: int = 500
    partitions_ahead_months: int = 3

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
        )
