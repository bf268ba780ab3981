"""Failed tasks and re-drives as resources: `POST /api/redrives` (202, run in the background on
the maintenance lane), `GET /api/redrives[/<id>]` (progress), `POST /api/redrives/<id>/cancel`.

A re-drive is confined to the caller's tenant; an admin key may ask for every tenant's failed
tasks with `"all_tenants": true`. Only a re-drive's own tenant (or, for an all-tenants one, an
admin) sees it; others get the 404 a missing one gets.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify

from db import redrives
from db.failed import FailedFilter
from db.ids import parse_task_id
from webapp import json_input
from webapp.auth import Principal, current_principal, current_tenant, requires_scope
from webapp.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from webapp.services import services
from webapp.tasks_api import read_json_body

bp = Blueprint("redrives", __name__, url_prefix="/api/redrives")

FIELDS = frozenset({"filter", "rate", "limit", "dry_run", "all_tenants"})
FILTER_FIELDS = frozenset(
    {"types", "error_types", "failed_since", "failed_until", "task_ids", "payload"}
)
MAX_RATE = 10_000.0
MAX_LIMIT = 1_000_000
MAX_LIST = 1_000


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValidationError(f"filter.{name} must be a list of strings", field=f"filter.{name}")
    if len(value) > MAX_LIST:
        raise ValidationError(f"filter.{name} holds at most {MAX_LIST}", field=f"filter.{name}")
    return tuple(value)


def _time(value: Any, name: str) -> datetime:
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise ValidationError(
            f"filter.{name} must be an RFC 3339 timestamp with an offset", field=f"filter.{name}"
        )
    return when.astimezone(UTC)


def parse_filter(raw: Any, tenant: str | None) -> tuple[FailedFilter, dict[str, Any]]:
    """The FailedFilter of a request's `filter`, and its normalised JSON (stored and shown)."""
    if not isinstance(raw, dict):
        raise ValidationError("filter must be a JSON object", field="filter")
    unknown = sorted(set(raw) - FILTER_FIELDS)
    if unknown:
        raise ValidationError(f"unknown filter field(s): {', '.join(unknown)}", fields=unknown)
    view: dict[str, Any] = {}
    types = _strings(raw["types"], "types") if "types" in raw else ()
    error_types = _strings(raw["error_types"], "error_types") if "error_types" in raw else ()
    since = _time(raw["failed_since"], "failed_since") if "failed_since" in raw else None
    until = _time(raw["failed_until"], "failed_until") if "failed_until" in raw else None
    ids: list[uuid.UUID] = []
    for text in _strings(raw["task_ids"], "task_ids") if "task_ids" in raw else ():
        parsed = parse_task_id(text)
        if parsed is None:
            raise ValidationError(f"filter.task_ids: {text[:64]!r} is not a task id")
        ids.append(parsed)
    payload = raw.get("payload", {})
    if not isinstance(payload, dict):
        raise ValidationError("filter.payload must be a JSON object", field="filter.payload")
    json_input.check_value(payload)
    for key, value in (
        ("types", list(types)),
        ("error_types", list(error_types)),
        ("failed_since", since.isoformat() if since else None),
        ("failed_until", until.isoformat() if until else None),
        ("task_ids", [str(i) for i in ids]),
        ("payload", payload),
    ):
        if value:
            view[key] = value
    where = FailedFilter(
        types=types,
        error_types=error_types,
        since=since,
        until=until,
        task_ids=tuple(ids),
        payload=payload,
        tenant=tenant,
    )
    return where, view


def _number(body: dict[str, Any], name: str, low: float, high: float) -> Any:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValidationError(f"{name} must be a number from {low:g} to {high:g}", field=name)
    return value


def start(body: Any, principal: Principal) -> redrives.Redrive:
    """Validate a re-drive request (the body of `POST /api/redrives`) of `principal` and record
    it; the web console's Retry and bulk re-drive go through here too, so both mean the same."""
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(unknown)}", fields=unknown)
    all_tenants = body.get("all_tenants", False)
    dry_run = body.get("dry_run", False)
    if not isinstance(all_tenants, bool) or not isinstance(dry_run, bool):
        raise ValidationError("all_tenants and dry_run must be booleans")
    if all_tenants and not principal.allows("admin"):
        raise ForbiddenError("all_tenants needs the 'admin' scope", required_scope="admin")
    tenant = None if all_tenants else principal.tenant
    where, view = parse_filter(body.get("filter", {}), tenant)
    rate = _number(body, "rate", 0.01, MAX_RATE)
    limit = _number(body, "limit", 1, MAX_LIMIT)
    if limit is not None and not isinstance(limit, int):
        raise ValidationError("limit must be an integer", field="limit")
    with services().engines.primary.begin() as conn:
        return redrives.create(
            conn,
            where=where,
            filter_view=view,
            rate=float(rate) if rate is not None else None,
            limit=limit,
            dry_run=dry_run,
            created_by=principal.key_id,
        )


@bp.post("")
@requires_scope("submit")
def create() -> tuple[Response, int, dict[str, str]]:
    """Start a re-drive of the FAILED tasks the filter matches (their latest failure)."""
    created = start(read_json_body(), current_principal())
    return jsonify(created.view()), 202, {"Location": f"/api/redrives/{created.id}"}


def _visible(redrive_id: uuid.UUID) -> redrives.Redrive:
    with services().engines.primary.connect() as conn:
        found = redrives.get(conn, redrive_id)
    tenant = current_tenant()
    hidden = found is None or (
        tenant is not None
        and found.tenant != tenant
        and not (found.tenant is None and current_principal().allows("admin"))
    )
    if found is None or hidden:
        raise NotFoundError(f"no re-drive with id {redrive_id}")
    return found


@bp.get("/<uuid:redrive_id>")
def get(redrive_id: uuid.UUID) -> Response:
    """A re-drive's state and counts: matched, re-driven, skipped, failed, pending."""
    return jsonify(_visible(redrive_id).view())


@bp.post("/<uuid:redrive_id>/cancel")
@requires_scope("submit")
def cancel(redrive_id: uuid.UUID) -> Response:
    """Stop a re-drive after its current chunk; 409 when it already finished."""
    found = _visible(redrive_id)
    if found.state not in redrives.ACTIVE:
        raise ConflictError(f"re-drive {redrive_id} is already {found.state}", state=found.state)
    with services().engines.primary.begin() as conn:
        after = redrives.request_cancel(conn, redrive_id)
    if after is None:
        raise NotFoundError(f"no re-drive with id {redrive_id}")
    return jsonify(after.view())


@bp.get("")
def recent() -> Response:
    """The tenant's latest re-drives, newest first (at most 50)."""
    with services().engines.primary.connect() as conn:
        found = redrives.recent(conn, current_tenant(), limit=50)
    return jsonify({"items": [r.view() for r in found]})
