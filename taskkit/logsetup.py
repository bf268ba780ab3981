"""Log lines of every process: human-readable by default, one JSON object per line with
`LOG_FORMAT=json`, each carrying the correlation id, task id, type and attempt it is about.

The context is a contextvar, so it follows the request or task it was set for: the API sets it
per request, the relay and the bridge per record, the worker per task
(celery_tasks/observability.py and execute.py).
"""

import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from taskkit.settings import LogSettings

CONTEXT_FIELDS = ("correlation_id", "task_id", "task_type", "attempt")
HUMAN_FORMAT = "%(asctime)s %(levelname)s [%(service)s] %(name)s: %(message)s%(context)s"
# The JSON keys in the order they are written; context fields appear only when known.
JSON_FIELDS = ("timestamp", "level", "logger", "service", "message", *CONTEXT_FIELDS)

# Attributes every LogRecord has; the JSON formatter writes none of them beyond its own fields.
_RECORD_ATTRS = list(vars(logging.LogRecord("", 0, "", 0, "", (), None)))

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: ContextVar[Mapping[str, Any]] = ContextVar("taskservice_log_context", default=_EMPTY)


def bind(**fields: Any) -> Token[Mapping[str, Any]]:
    """Add `fields` to the log context of the current request or task; None values are dropped."""
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    return _context.set(merged)


def reset(token: Token[Mapping[str, Any]]) -> None:
    """Restore the log context that `bind` replaced."""
    _context.reset(token)


def clear() -> None:
    """Forget the whole log context (between two tasks of one worker process)."""
    _context.set(_EMPTY)


def current() -> Mapping[str, Any]:
    """The fields the next log line of this context will carry."""
    return _context.get()


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Log lines inside the block carry `fields` (the relay and bridge wrap each record)."""
    token = bind(**fields)
    try:
        yield
    finally:
        reset(token)


class ContextFilter(logging.Filter):
    """Puts the service name and the current context on every record that reaches a handler.

    A field passed explicitly through `extra=` wins over the context.
    """

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        ctx = _context.get()
        for name in CONTEXT_FIELDS:
            if getattr(record, name, None) is None:
                setattr(record, name, ctx.get(name))
        known = [
            f"{n}={getattr(record, n)}" for n in CONTEXT_FIELDS if getattr(record, n) is not None
        ]
        record.context = f" [{' '.join(known)}]" if known else ""
        return True


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line; unknown context fields are left out rather than null."""

    def __init__(self) -> None:
        super().__init__(
            ["levelname", "name", "service", "message", *CONTEXT_FIELDS],
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,
            # Everything else a record carries (the human text, Celery's attributes) stays out,
            # so log pipelines see one stable schema.
            reserved_attrs=[*_RECORD_ATTRS, "context", "taskName"],
        )

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        ordered = {k: log_data[k] for k in JSON_FIELDS if log_data.get(k) is not None}
        ordered.update({k: v for k, v in log_data.items() if k not in ordered and v is not None})
        return ordered


def make_formatter(log_format: str) -> logging.Formatter:
    """The formatter of `log_format` ("human" or "json")."""
    if log_format == "json":
        return JsonLineFormatter()
    return logging.Formatter(HUMAN_FORMAT)


class ServiceHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler of a process's root logger, told apart by its class: dictConfig renames
    the handlers it builds (gunicorn's, webapp/gunicorn_conf.py), so a name cannot say which
    handler is ours, and two of them wrote every line twice."""


def make_handler(service: str, log_format: str = "human") -> logging.Handler:
    """A stderr handler that writes this service's lines (also gunicorn's dictConfig factory)."""
    handler = ServiceHandler(sys.stderr)
    handler.addFilter(ContextFilter(service))
    handler.setFormatter(make_formatter(log_format))
    handler.set_name(f"taskservice-{service}")
    return handler


def configure_logging(settings: LogSettings, service: str) -> None:
    """Send every logger's lines through one handler on the root logger; safe to call twice."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing, ServiceHandler):
            root.removeHandler(existing)
    root.addHandler(make_handler(settings.service or service, settings.format))
    root.setLevel(settings.level)


def service_from_argv(argv: list[str], default: str = "celery") -> str:
    """The Celery sub-command this process runs (worker, beat, flower), as its service name."""
    for name in ("worker", "beat", "flower"):
        if name in argv:
            return name
    return default
