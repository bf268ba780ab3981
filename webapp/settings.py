"""Settings of the API and the outbox relay, read from the environment at their entry points."""

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class WebSettings:
    """Everything the API needs; `create_app` takes one (tests pass their own)."""

    database_url: str = "postgresql+psycopg://tasks:tasks@127.0.0.1:5432/tasks"
    database_replica_url: str | None = None
    redis_url: str = "redis://127.0.0.1:6379/0"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    default_max_attempts: int = 4
    max_attempts_limit: int = 10
    max_body_bytes: int = 1024 * 1024
    readiness_timeout_s: float = 2.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "WebSettings":
        """Read settings from environment variables, falling back to the local stack."""
        d = cls()
        return cls(
            database_url=env.get("DATABASE_URL", d.database_url),
            database_replica_url=env.get("DATABASE_REPLICA_URL") or None,
            redis_url=env.get("REDIS_URL", d.redis_url),
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", d.kafka_bootstrap_servers),
            default_max_attempts=int(
                env.get("WEBAPP_DEFAULT_MAX_ATTEMPTS", d.default_max_attempts)
            ),
            max_attempts_limit=int(env.get("WEBAPP_MAX_ATTEMPTS_LIMIT", d.max_attempts_limit)),
            max_body_bytes=int(env.get("WEBAPP_MAX_BODY_BYTES", d.max_body_bytes)),
        )


@dataclass(frozen=True)
class RelaySettings:
    """Settings of the outbox relay process."""

    database_url: str = "postgresql+psycopg://tasks:tasks@127.0.0.1:5432/tasks"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    batch_size: int = 500
    sweep_interval_s: float = 1.0
    # Every message is either acknowledged or failed within this bound, so the relay can wait
    # for all delivery reports of a batch before deleting its rows (no unresolved leftovers
    # that Kafka could still accept after the rows were claimed again).
    delivery_timeout_ms: int = 15000
    linger_ms: int = 5
    error_backoff_s: float = 1.0
    metrics_port: int = 9101

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "RelaySettings":
        """Read settings from environment variables, falling back to the local stack."""
        d = cls()
        return cls(
            database_url=env.get("DATABASE_URL", d.database_url),
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", d.kafka_bootstrap_servers),
            batch_size=int(env.get("RELAY_BATCH_SIZE", d.batch_size)),
            sweep_interval_s=float(env.get("RELAY_SWEEP_INTERVAL_S", d.sweep_interval_s)),
            delivery_timeout_ms=int(env.get("RELAY_DELIVERY_TIMEOUT_MS", d.delivery_timeout_ms)),
            metrics_port=int(env.get("RELAY_METRICS_PORT", d.metrics_port)),
        )
