"""Validation of submissions: pure functions from request bytes to a `NewTask`, or an ApiError."""

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from celery_tasks.catalog import Catalog
from celery_tasks.errors import InvalidPayloadError
from db.tasks_repo import NewTask
from taskkit.urlsafety import url_problem
from webapp import json_input
from webapp.errors import BadRequestError, ValidationError

SUBMIT_FIELDS = frozenset({"type", "payload", "priority", "max_attempts", "run_at", "callback_url"})
# run_at more than this far in the past is a client bug (a zero date), not a late schedule.
MAX_RUN_AT_PAST = timedelta(days=7)
CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
DEFAULT_MAX_ATTEMPTS = 4
MAX_ATTEMPTS_LIMIT = 10
MAX_SCHEDULE_AHEAD_DAYS = 366


@dataclass(frozen=True)
class Limits:
    """The bounds a submission is checked against (WebSettings.limits)."""

    default_max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_attempts_limit: int = MAX_ATTEMPTS_LIMIT
    max_schedule_ahead_days: int = MAX_SCHEDULE_AHEAD_DAYS


def parse_json(raw: bytes) -> Any:
    """Parse a request body as strict JSON (webapp/json_input.py): 400, or 422 for strings
    the task store cannot keep."""
    try:
        return json_input.loads(raw)
    except json_input.JsonContentError as err:
        raise ValidationError(str(err)) from None
    except json_input.JsonInputError as err:
        raise BadRequestError(f"request body: {err}") from None


def _payload(body: dict[str, Any]) -> dict[str, Any]:
    payload = body.get("payload", {})
    if isinstance(payload, str):
        # The original design sends the payload as a JSON-encoded string; accept both forms.
        try:
            payload = json_input.loads(payload)
        except json_input.JsonInputError as err:
            raise ValidationError(
                f"payload is a string but not JSON: {err}", field="payload"
            ) from None
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
    catalog: Catalog,
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
    if task_type not in catalog:
        raise ValidationError(
            f"unknown task type {task_type[:100]!r}", field="type", known_types=list(catalog)
        )
    known = catalog.get(task_type)
    if known.validate is not None:
        try:
            known.validate(payload)
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
        callback_url=parse_callback_url(body.get("callback_url")),
    )


def parse_callback_url(value: Any) -> str | None:
    """The form of a callback URL (where it points is checked by the view, which may resolve
    the host); None when absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("callback_url must be a string", field="callback_url")
    problem = url_problem(value)
    if problem is not None:
        raise ValidationError(f"callback_url {problem}", field="callback_url")
    return value


def correlation_id_from(header: str | None) -> str:
    """The request's correlation id: the header when it is a short safe token, else a new one."""
    if header and CORRELATION_ID.match(header):
        return header
    return uuid.uuid4().hex
