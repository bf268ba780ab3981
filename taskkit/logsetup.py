"""Log lines of every process: human-readable by default, one JSON object per line with
`LOG_FORMAT=json`, each carrying the correlation id, task id, type and attempt it is about.

The context is a contextvar, so it follows the request or task it was set for: the API sets it
per request, the relay and the bridge per record, the worker per task
(celery_tasks/observability.py and execute.py).
"""

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from taskkit.settings import LogSettings

CONTEXT_FIELDS = ("correlation_id", "task_id", "task_type", "attempt")
HUMAN_FORMAT = "%(asctime)s %(levelname)s [%(service)s] %(name)s: %(message)s%(context)s"
# The JSON keys in the order they are written; context fields appear only when known.
JSON_FIELDS = ("timestamp", "level", "logger", "service", "message", *CONTEXT_FIELDS)

# Attributes every LogRecord has, and those the filter or formatters add; the JSON formatter
# writes none of them beyond its own fields.
_NOT_EXTRA = frozenset(
    [
        *vars(logging.LogRecord("", 0, "", 0, "", (), None)),
        *CONTEXT_FIELDS,
        "context",
        "service",
        "message",
        "asctime",
        "taskName",
    ]
)

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
        # Through the record's __dict__: the relay, the bridge and the worker write a line per
        # task, and this ran about a fifth of a line's time with getattr and setattr.
        fields = record.__dict__
        fields["service"] = self.service
        ctx = _context.get()
        for name in CONTEXT_FIELDS:
            if fields.get(name) is None:
                fields[name] = ctx.get(name)
        return True


class HumanFormatter(logging.Formatter):
    """HUMAN_FORMAT, the record's known context fields appended as `[name=value ...]`."""

    def __init__(self) -> None:
        super().__init__(HUMAN_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        known = [
            f"{name}={value}"
            for name in CONTEXT_FIELDS
            if (value := getattr(record, name, None)) is not None
        ]
        record.context = f" [{' '.join(known)}]" if known else ""
        return super().format(record)


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: the JSON_FIELDS first (context fields only when known), then
    any field a caller passed with `extra=`; nothing else a record carries (the human text,
    the logging module's own attributes), so log pipelines see one stable schema.

    Written here rather than as a python-json-logger formatter: every process writes several
    lines per task (relay, bridge, worker) or request, and that formatter's generic field
    handling cost 15 us of CPU per line against 6 us for this one, measured alone.
    """

    def format(self, record: logging.LogRecord) -> str:
        fields = record.__dict__
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
        }
        service = fields.get("service")
        if service is not None:
            line["service"] = service
        line["message"] = record.getMessage()
        for name in CONTEXT_FIELDS:
            value = fields.get(name)
            if value is not None:
                line[name] = value
        for name, value in fields.items():
            if value is not None and name not in _NOT_EXTRA:
                line[name] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=_json_default)


def _json_default(value: object) -> str:
    """What JSON cannot hold (a datetime, a UUID, an exception passed as `extra`), as text."""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def make_formatter(log_format: str) -> logging.Formatter:
    """The formatter of `log_format` ("human" or "json")."""
    if log_format == "json":
        return JsonLineFormatter()
    return HumanFormatter()


class ServiceHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The one handler of a process's root logger, told apart by its class: dictConfig renames
    the handlers it builds (granian's, webapp/serve.py), so a name cannot say which
    handler is ours, and two of them wrote every line twice."""


def make_handler(service: str, log_format: str = "human") -> logging.Handler:
    """A stderr handler writing this service's lines (also a factory in granian's dictConfig)."""
    handler = ServiceHandler(sys.stderr)
    handler.addFilter(ContextFilter(service))
    handler.setFormatter(make_formatter(log_format))
    handler.set_name(f"taskservice-{service}")
    return handler


def configure_logging(settings: LogSettings, service: str) -> None:
    """Send every logger's lines through one handler on the root logger; safe to call twice."""
    # No line of either format names its source line, thread or process, so the records need
    # not look them up: the logging HOWTO's "Optimization" switches. With them and the leaner
    # ContextFilter, a JSON line costs 13 us of CPU instead of 16.5, measured alone; every
    # process writes one or two a task, and under load each costs about three times as much.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
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
