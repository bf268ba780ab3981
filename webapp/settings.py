"""Settings of the API and the outbox relay, read from the environment at their entry points."""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


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
    # API surface and security (issue 5); see README, "API keys, limits and idempotency".
    auth_enabled: bool = True
    # How long a verified key is trusted without asking PostgreSQL again; a revocation takes
    # effect within this time. 0 looks every request's key up.
    auth_cache_ttl_s: float = 5.0
    rate_limit_default: str = "1200/minute"
    rate_limit_submit: str | None = None
    rate_limit_read: str | None = "6000/minute"
    rate_limit_admin: str | None = None
    rate_limit_storage_url: str | None = None
    rate_limit_strategy: str = "fixed-window"
    trusted_proxy_count: int = 0
    idempotency_ttl_s: int = 24 * 3600
    max_batch_size: int = 1000
    max_schedule_ahead_days: int = 366

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
            **_api_surface_from_env(env, d),
        )


def _flag(value: str) -> bool:
    if value.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if value.strip().lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _api_surface_from_env(env: Mapping[str, str], d: WebSettings) -> dict[str, Any]:
    """The authentication, rate-limit, idempotency and batch settings."""
    return {
        "auth_enabled": _flag(env.get("WEBAPP_AUTH_ENABLED", str(d.auth_enabled))),
        "auth_cache_ttl_s": float(env.get("WEBAPP_AUTH_CACHE_TTL_S", d.auth_cache_ttl_s)),
        "rate_limit_default": env.get("WEBAPP_RATE_LIMIT_DEFAULT", d.rate_limit_default),
        "rate_limit_submit": env.get("WEBAPP_RATE_LIMIT_SUBMIT", d.rate_limit_submit) or None,
        "rate_limit_read": env.get("WEBAPP_RATE_LIMIT_READ", d.rate_limit_read) or None,
        "rate_limit_admin": env.get("WEBAPP_RATE_LIMIT_ADMIN", d.rate_limit_admin) or None,
        "rate_limit_storage_url": env.get("WEBAPP_RATE_LIMIT_STORAGE_URL") or None,
        "rate_limit_strategy": env.get("WEBAPP_RATE_LIMIT_STRATEGY", d.rate_limit_strategy),
        "trusted_proxy_count": int(env.get("WEBAPP_TRUSTED_PROXY_COUNT", d.trusted_proxy_count)),
        "idempotency_ttl_s": int(env.get("WEBAPP_IDEMPOTENCY_TTL_S", d.idempotency_ttl_s)),
        "max_batch_size": int(env.get("WEBAPP_MAX_BATCH_SIZE", d.max_batch_size)),
        "max_schedule_ahead_days": int(
            env.get("WEBAPP_MAX_SCHEDULE_AHEAD_DAYS", d.max_schedule_ahead_days)
        ),
    }


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
    # 0.0.0.0 in a container, so Prometheus in another container can scrape it.
    metrics_address: str = "127.0.0.1"
    # How often the relay refreshes the queue-health gauges (webapp/queue_health.py).
    health_interval_s: float = 15.0

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
            metrics_address=env.get("RELAY_METRICS_ADDRESS", d.metrics_address),
            health_interval_s=float(env.get("RELAY_HEALTH_INTERVAL_S", d.health_interval_s)),
        )
