"""Settings of `taskctl` (the shared connection URLs; limits as the API has them)."""

from pydantic import Field

from db.retention import DEFAULT_RETENTION_MONTHS
from taskkit.settings import (
    LOCAL_API_URL,
    DatabaseFields,
    KafkaFields,
    LogSettings,
    log_settings_field,
)
from webapp.validation import DEFAULT_MAX_ATTEMPTS, MAX_ATTEMPTS_LIMIT, Limits


class CliSettings(DatabaseFields, KafkaFields, env_prefix="TASKCTL_"):
    """What the command line connects to; `taskctl submit` checks what the API checks."""

    log: LogSettings = log_settings_field()
    # The API, for the commands that go through it (`dlt redrive`).
    api_url: str = LOCAL_API_URL
    api_key: str | None = None
    api_timeout_s: float = Field(30.0, gt=0)
    default_max_attempts: int = Field(
        DEFAULT_MAX_ATTEMPTS, ge=1, validation_alias="WEBAPP_DEFAULT_MAX_ATTEMPTS"
    )
    max_attempts_limit: int = Field(
        MAX_ATTEMPTS_LIMIT, ge=1, validation_alias="WEBAPP_MAX_ATTEMPTS_LIMIT"
    )

    # How long rows are kept (months); `tasks-dlt` is kept at least as long.
    retention_months: int = Field(
        DEFAULT_RETENTION_MONTHS, ge=1, validation_alias="CELERY_TASKS_RETENTION_MONTHS"
    )

    @property
    def limits(self) -> Limits:
        """The bounds `taskctl submit` checks a submission against."""
        return Limits(self.default_max_attempts, self.max_attempts_limit)
