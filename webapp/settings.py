"""Settings of the API (WEBAPP_*, the shared connection URLs and LOG_*), read at its entry
point (webapp/serve.py, or `create_app()` without arguments) and passed down whole."""

from pydantic import Field, SecretStr

from db.topics import BRIDGE_GROUP_ID
from taskkit.settings import (
    DatabaseFields,
    KafkaFields,
    LogSettings,
    RedisFields,
    log_settings_field,
)
from webapp.validation import (
    DEFAULT_MAX_ATTEMPTS,
    MAX_ATTEMPTS_LIMIT,
    MAX_SCHEDULE_AHEAD_DAYS,
    Limits,
)


class WebSettings(DatabaseFields, RedisFields, KafkaFields, env_prefix="WEBAPP_"):
    """Everything the API needs; `create_app` takes one (tests pass their own)."""

    # Unset: reads go to the primary.
    database_replica_url: str | None = Field(None, validation_alias="DATABASE_REPLICA_URL")
    log: LogSettings = log_settings_field()
    default_max_attempts: int = Field(DEFAULT_MAX_ATTEMPTS, ge=1)
    max_attempts_limit: int = Field(MAX_ATTEMPTS_LIMIT, ge=1)
    max_body_bytes: int = Field(1024 * 1024, gt=0)
    readiness_timeout_s: float = Field(2.0, gt=0)
    auth_enabled: bool = True
    # How long a verified key is trusted without asking PostgreSQL again; a revocation takes
    # effect within this time. 0 looks every request's key up.
    auth_cache_ttl_s: float = Field(5.0, ge=0)
    rate_limit_default: str = "1200/minute"
    rate_limit_submit: str | None = None
    rate_limit_read: str | None = "6000/minute"
    rate_limit_admin: str | None = None
    # Unset: the limiter counts in REDIS_URL.
    rate_limit_storage_url: str | None = None
    rate_limit_strategy: str = "fixed-window"
    trusted_proxy_count: int = Field(0, ge=0)
    idempotency_ttl_s: int = Field(24 * 3600, gt=0)
    max_batch_size: int = Field(1000, gt=0)
    max_schedule_ahead_days: int = Field(MAX_SCHEDULE_AHEAD_DAYS, gt=0)
    # Callback URLs may name private, loopback and link-local hosts (a development stack whose
    # receiver runs on 127.0.0.1); off by default, since any client could aim the service at
    # its neighbours (taskkit/urlsafety.py).
    webhooks_allow_private: bool = False
    # The web console (/ui/, webapp/console/). Signs its session cookies and CSRF tokens; every
    # API worker process and API instance must share it. Unset: the console answers 503 (see
    # webapp/console/__init__.py for why there is no per-process fallback).
    ui_secret_key: SecretStr | None = Field(None, min_length=32)
    # A console session ends this long after its sign-in, whatever it did meanwhile.
    ui_session_max_age_s: int = Field(8 * 3600, gt=0)
    # Unset: the cookie is Secure when the request came over https; true behind a proxy that
    # ends TLS and forwards plain HTTP.
    ui_cookie_secure: bool | None = None
    # The queue-health page's charts, workers online and throughput; unreachable = shown as
    # unavailable, the other figures still come from PostgreSQL and Kafka.
    ui_prometheus_url: str = "http://127.0.0.1:9090"
    # The bridges' consumer group, whose lag the queue-health page shows (the bridge's variable).
    bridge_group_id: str = Field(BRIDGE_GROUP_ID, validation_alias="BRIDGE_GROUP_ID")
    # prometheus_client's multiprocess folder, so /metrics adds up every API worker process.
    multiproc_dir: str | None = Field(None, validation_alias="PROMETHEUS_MULTIPROC_DIR")

    @property
    def limits(self) -> Limits:
        """The bounds submissions are checked against."""
        return Limits(
            self.default_max_attempts, self.max_attempts_limit, self.max_schedule_ahead_days
        )
