"""Query parameters of `GET /api/tasks`: pure parsing into a TaskFilter, or a 400 naming the
parameter."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from db.models import TaskStatus
from db.search import Cursor, TaskFilter, decode_cursor
from webapp import json_input
from webapp.errors import BadRequestError

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_TEXT_CHARS = 200
MAX_PAYLOAD_CHARS = 4096
PARAMETERS = frozenset(
    {
        "status",
        "type",
        "created_after",
        "created_before",
        "payload",
        "limit",
        "cursor",
        "error_type",
        "failed_since",
        "failed_until",
    }
)


@dataclass(frozen=True)
class SearchRequest:
    """A parsed search: what to match, how many, and where the page starts."""

    where: TaskFilter
    limit: int
    after: Cursor | None


def _bad(parameter: str, detail: str) -> BadRequestError:
    return BadRequestError(f"{parameter}: {detail}", parameter=parameter)


def _single(args: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = args.get(name) or []
    if len(values) > 1:
        raise _bad(name, "give this parameter at most once")
    if not values:
        return None
    value = values[0]
    # PostgreSQL text cannot hold U+0000; say so instead of failing in the driver.
    if "\x00" in value:
        raise _bad(name, "must not contain the character U+0000")
    return value


def _timestamp(args: Mapping[str, Sequence[str]], name: str) -> datetime | None:
    text = _single(args, name)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _bad(
            name, "must be an ISO 8601 timestamp, e.g. 2026-12-01T00:00:00Z (URL-encode '+')"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _payload(args: Mapping[str, Sequence[str]]) -> dict[str, Any] | None:
    text = _single(args, "payload")
    if text is None:
        return None
    if len(text) > MAX_PAYLOAD_CHARS:
        raise _bad("payload", f"must be at most {MAX_PAYLOAD_CHARS} characters")
    try:
        value = json_input.loads(text)
    except json_input.JsonInputError as err:
        raise _bad("payload", f"must be a JSON object: {err}") from None
    if not isinstance(value, dict):
        raise _bad("payload", "must be a JSON object (matched by containment)")
    return value


def _limit(args: Mapping[str, Sequence[str]]) -> int:
    text = _single(args, "limit")
    if text is None:
        return DEFAULT_LIMIT
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise _bad("limit", f"must be an integer from 1 to {MAX_LIMIT}")
    return int(text)


def _statuses(args: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    statuses = []
    for value in args.get("status") or []:
        if value not in TaskStatus.__members__:
            raise _bad("status", f"must be one of {', '.join(TaskStatus)} (repeat it for several)")
        statuses.append(value)
    return tuple(dict.fromkeys(statuses))


def parse_search(args: Mapping[str, Sequence[str]], tenant: str | None = None) -> SearchRequest:
    """Parse the query string (each name to its list of values) of a search."""
    unknown = sorted(set(args) - PARAMETERS)
    if unknown:
        raise _bad(unknown[0], f"unknown parameter; known: {', '.join(sorted(PARAMETERS))}")
    task_type = _single(args, "type")
    if task_type is not None and not 1 <= len(task_type) <= MAX_TEXT_CHARS:
        raise _bad("type", f"must be 1 to {MAX_TEXT_CHARS} characters")
    created_after = _timestamp(args, "created_after")
    created_before = _timestamp(args, "created_before")
    if created_after and created_before and created_after >= created_before:
        raise _bad("created_before", "must be later than created_after")
    token = _single(args, "cursor")
    after = None
    if token is not None:
        after = decode_cursor(token)
        if after is None:
            raise _bad("cursor", "is not a cursor this API returned")
    where = TaskFilter(
        statuses=_statuses(args),
        type=task_type,
        created_after=created_after,
        created_before=created_before,
        payload=_payload(args),
        tenant=tenant,
        error_types=_error_types(args),
        failed_since=_timestamp(args, "failed_since"),
        failed_until=_timestamp(args, "failed_until"),
    )
    return SearchRequest(where, _limit(args), after)


def _error_types(args: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    values = list(args.get("error_type") or [])
    for value in values:
        if not 1 <= len(value) <= MAX_TEXT_CHARS or "\x00" in value:
            raise _bad("error_type", f"must be 1 to {MAX_TEXT_CHARS} characters")
    return tuple(dict.fromkeys(values))
