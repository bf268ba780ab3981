"""Validation of submissions: pure functions from request bytes to a `NewTask`, or an ApiError."""

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from celery_tasks.errors import InvalidPayloadError
from celery_tasks.registry import Registry
from db.tasks_repo import NewTask
from webapp.errors import BadRequestError, ValidationError

MAX_JSON_DEPTH = 32
SUBMIT_FIELDS = frozenset({"type", "payload", "priority", "max_attempts", "run_at"})
# run_at more than this far in the past is a client bug (a zero date), not a late schedule.
MAX_RUN_AT_PAST = timedelta(days=7)
CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


@dataclass(frozen=True)
class Limits:
    """The bounds a submission is checked against."""

    default_max_attempts: int = 4
    max_attempts_limit: int = 10
    max_schedule_ahead_days: int = 366


def _reject_constant(name: str) -> None:
    raise BadRequestError(f"JSON constant {name} is not allowed")


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of a JSON value, stopping as soon as `limit` is passed."""
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        if isinstance(item, dict):
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)
    return deepest


def _check_strings(value: Any) -> None:
    # PostgreSQL's jsonb cannot store U+0000; reject it here with a reason instead of a 500.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and "\x00" in item:
            raise ValidationError("strings must not contain the character U+0000")
        if isinstance(item, dict):
            for key, val in item.items():
                if "\x00" in key:
                    raise ValidationError("keys must not contain the character U+0000")
                stack.append(val)
        elif isinstance(item, list):
            stack.extend(item)


def parse_json(raw: bytes) -> Any:
    """Parse a request body as strict JSON (no NaN/Infinity, bounded depth)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestError("request body is not valid UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        raise BadRequestError(f"request body is not valid JSON: {err}") from None
    except RecursionError:
        raise BadRequestError(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels") from None
    if _depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise BadRequestError(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels")
    _check_strings(value)
    return value


def _payload(body: dict[str, Any]) -> dict[str, Any]:
    payload = body.get("payload", {})
    if isinstance(payload, str):
        # The original design sends the payload as a JSON-encoded string; accept both forms.
        try:
            payload = json.loads(payload, parse_constant=_reject_constant)
        except json.JSONDecodeError as err:
            raise ValidationError(
                f"payload is a string but not JSON: {err}", field="payload"
            ) from None
        _check_strings(payload)
        if _depth(payload, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
            raise ValidationError("payload is nested too deeply", field="payload")
    if not isinstance(payload, dict):
        raise ValidationError(
            "payload must be a JSON object (or a string holding one)", field="payload"
        )
    return payload


def _int_field(body: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be an integer", field=name)
    if not low <= value <= high:
        raise ValidationError(f"{name} must be between {low} and {high}", field=name)
    return value


def parse_run_at(value: Any, max_ahead_days: int, now: datetime | None = None) -> datetime | None:
    """An RFC 3339 timestamp with an offset, within the accepted window; None when absent."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise ValidationError("run_at must be an RFC 3339 timestamp string", field="run_at")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            "run_at is not an RFC 3339 timestamp (e.g. 2026-12-01T12:00:00Z)", field="run_at"
        ) from None
    if when.tzinfo is None or "T" not in value.upper():
        raise ValidationError(
            "run_at needs a date, a time and an offset (Z or +hh:mm)", field="run_at"
        )
    now = now or datetime.now(UTC)
    if when < now - MAX_RUN_AT_PAST or when > now + timedelta(days=max_ahead_days):
        raise ValidationError(
            f"run_at must lie between 7 days ago and {max_ahead_days} days ahead", field="run_at"
        )
    return when.astimezone(UTC)


def parse_submission(
    body: Any,
    handlers: Registry,
    limits: Limits,
    *,
    correlation_id: str | None = None,
    tenant: str | None = None,
) -> NewTask:
    """Turn one submitted task (already parsed JSON) into a NewTask, or raise ValidationError."""
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object")
    unknown = sorted(set(body) - SUBMIT_FIELDS)
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(unknown)}", fields=unknown)
    payload = _payload(body)
    task_type = body.get("type", payload.get("action"))
    if task_type is None:
        raise ValidationError("type is required (or give the payload an 'action')", field="type")
    if not isinstance(task_type, str) or not task_type:
        raise ValidationError("type must be a non-empty string", field="type")
    if task_type not in handlers:
        raise ValidationError(
            f"unknown task type {task_type[:100]!r}", field="type", known_types=list(handlers)
        )
    handler = handlers.get(task_type)
    if handler.validate is not None:
        try:
            handler.validate(payload)
        except InvalidPayloadError as err:
            raise ValidationError(
                f"invalid payload for {task_type}: {err}", field="payload"
            ) from None
    return NewTask(
        type=task_type,
        payload=payload,
        max_attempts=_int_field(
            body, "max_attempts", limits.default_max_attempts, 1, limits.max_attempts_limit
        ),
        priority=_int_field(body, "priority", 0, 0, 9),
        run_at=parse_run_at(body.get("run_at"), limits.max_schedule_ahead_days),
        correlation_id=correlation_id,
        tenant=tenant,
    )


def correlation_id_from(header: str | None) -> str:
    """The request's correlation id: the header when it is a short safe token, else a new one."""
    if header and CORRELATION_ID.match(header):
        return header
    return uuid.uuid4().hex
