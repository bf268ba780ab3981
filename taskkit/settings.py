"""Typed settings read from the environment (pydantic-settings), and the settings of logging.

Each process has one settings class, a subclass of `ServiceSettings`, read once at its entry
point with `from_env()` and passed down whole. Every field is reachable from the environment:
a field named `batch_size` of a class whose prefix is `RELAY_` reads `RELAY_BATCH_SIZE`; the
connection URLs every process shares (`DATABASE_URL`, `REDIS_URL`, ...) carry their name as an
alias and are declared once, in the mixins below. Booleans follow pydantic's one rule (`true`,
`1`, `yes`, `on` and their opposites, any case). A value that does not fit stops the process at
start with a `SettingsError` naming the variable and the value.
"""

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal, Self, TypeVar

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

from taskkit.errors import SettingsError

T = TypeVar("T")

# Where the local stack (ops/stack.sh) runs each service; written here once.
LOCAL_DATABASE_URL = "postgresql+psycopg://tasks:tasks@127.0.0.1:5432/tasks"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"
LOCAL_BROKER_URL = "redis://127.0.0.1:6379/1"
LOCAL_KAFKA = "127.0.0.1:9092"
LOCAL_API_URL = "http://127.0.0.1:8080"

# The environment `from_env` reads, when a caller (a test) passes one instead of os.environ.
_environ: ContextVar[Mapping[str, str] | None] = ContextVar("taskkit_environ", default=None)


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading a given mapping instead of os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


@contextmanager
def _reading(environ: Mapping[str, str] | None) -> Iterator[None]:
    token = _environ.set(environ if environ is not None else _environ.get())
    try:
        yield
    finally:
        _environ.reset(token)


class ServiceSettings(BaseSettings):
    """Base of every settings class: frozen, typed, read from the environment."""

    model_config = {
        "frozen": True,
        "extra": "forbid",
        "case_sensitive": False,
        # An empty variable means "not set": the default applies.
        "env_ignore_empty": True,
        # Aliases name the shared variables (DATABASE_URL); code and tests use field names.
        "validate_by_name": True,
        "validate_by_alias": True,
    }

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Keyword arguments win over the environment; no .env files, no secret folders: the
        # deployment (ops/stack.sh, Compose, Kubernetes) puts everything in the environment.
        environ = _environ.get()
        return (init_settings, _MappingEnvSource(settings_cls, environ or os.environ))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """Read the settings from `environ` (default: os.environ); raise SettingsError."""
        with _reading(environ):
            try:
                return cls(**overrides)
            except ValidationError as err:
                raise SettingsError(describe_errors(cls, err)) from None

    @classmethod
    def env_name(cls, field_name: str) -> str:
        """The environment variable that sets `field_name`."""
        field = cls.model_fields[field_name]
        if isinstance(field.validation_alias, str):
            return field.validation_alias
        prefix = cls.model_config.get("env_prefix", "") or ""
        return f"{prefix}{field_name}".upper()


def _field_of(cls: type[ServiceSettings], loc: object) -> str | None:
    for name, field in cls.model_fields.items():
        if loc in (name, field.validation_alias):
            return name
    return None


def describe_errors(cls: type[ServiceSettings], err: ValidationError) -> str:
    """One line per bad value: the variable, the value it held and what is wrong with it."""
    lines = []
    for error in err.errors():
        loc = error["loc"][0] if error["loc"] else None
        name = _field_of(cls, loc)
        variable = cls.env_name(name) if name else str(loc)
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            lines.append(f"{variable}: not a setting of {cls.__name__}")
            continue
        lines.append(f"{variable}={error['input']!r}: {message}")
    return "; ".join(lines)


def settings_or_exit(load: Callable[[], T], program: str) -> T:
    """Run `load` at a process's start; on a bad setting print one line and exit with 2."""
    try:
        return load()
    except SettingsError as err:
        print(f"{program}: invalid setting: {err}", file=sys.stderr)
        raise SystemExit(2) from None


# --- the connection settings several processes share ----------------------------------------


class DatabaseFields(ServiceSettings):
    """The primary PostgreSQL."""

    database_url: str = Field(LOCAL_DATABASE_URL, validation_alias="DATABASE_URL")


class RedisFields(ServiceSettings):
    """The Redis of locks and rate limits (not the Celery broker)."""

    redis_url: str = Field(LOCAL_REDIS_URL, validation_alias="REDIS_URL")


class KafkaFields(ServiceSettings):
    """The Kafka cluster."""

    kafka_bootstrap_servers: str = Field(LOCAL_KAFKA, validation_alias="KAFKA_BOOTSTRAP_SERVERS")


class BrokerFields(ServiceSettings):
    """The Celery broker."""

    broker_url: str = Field(LOCAL_BROKER_URL, validation_alias="CELERY_BROKER_URL")


# --- logging ---------------------------------------------------------------------------------

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class LogSettings(ServiceSettings, env_prefix="LOG_"):
    """How every process writes its log lines (taskkit/logsetup.py)."""

    format: Literal["human", "json"] = "human"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    # Overrides the name each entry point gives itself ("api", "relay", "worker", ...).
    service: str | None = None

    @field_validator("format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() or "human" if isinstance(value, str) else value

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() or "INFO" if isinstance(value, str) else value

    @field_validator("service", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value


def log_settings_field() -> Any:
    """The `log` field of a process's settings: LOG_* read with the rest of its environment."""
    return Field(default_factory=LogSettings.from_env)
