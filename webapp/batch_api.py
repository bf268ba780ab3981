"""`POST /api/tasks/batch`: many tasks in one transaction (one multi-row insert per table)."""

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, g, jsonify

from db.models import tasks_table
from db.tasks_repo import NewTask
from webapp import idempotency, metrics
from webapp.auth import current_tenant
from webapp.callbacks import check_callbacks
from webapp.errors import ApiError, ValidationError
from webapp.services import services
from webapp.tasks_api import read_json_body
from webapp.validation import parse_submission

bp = Blueprint("batch", __name__, url_prefix="/api/tasks")


def _parse_items(body: Any) -> list[NewTask]:
    """Validate every item; all errors are reported together, by index, and nothing is stored."""
    svc = services()
    if not isinstance(body, dict):
        raise ValidationError("the request body must be a JSON object with a 'tasks' list")
    unknown = sorted(set(body) - {"tasks"})
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(unknown)}", fields=unknown)
    items = body.get("tasks")
    if not isinstance(items, list) or not items:
        raise ValidationError("'tasks' must be a non-empty list", field="tasks")
    limit = svc.settings.max_batch_size
    if len(items) > limit:
        raise ValidationError(f"a batch holds at most {limit} tasks", field="tasks", limit=limit)
    tenant = current_tenant()
    parsed: list[NewTask] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            parsed.append(
                parse_submission(
                    item, svc.catalog, svc.limits, correlation_id=g.correlation_id, tenant=tenant
                )
            )
        except ApiError as err:
            errors.append({"index": index, "detail": err.detail, **err.extra})
    if errors:
        raise ValidationError(
            f"{len(errors)} of {len(items)} tasks are invalid; none was stored", errors=errors
        )
    return parsed


def _statuses(ids: list[Any]) -> dict[str, str]:
    t = tasks_table
    with services().engines.primary.connect() as conn:
        rows = conn.execute(sa.select(t.c.id, t.c.status).where(t.c.id.in_(ids)))
        return {str(r.id): r.status for r in rows}


def _item(task_id: str, status: str | None) -> dict[str, Any]:
    return {"id": task_id, "status": status, "links": {"self": f"/api/tasks/{task_id}"}}


@bp.post("/batch")
def submit_batch() -> tuple[Response, int]:
    """Accept up to WEBAPP_MAX_BATCH_SIZE tasks atomically; answer their ids in order (202)."""
    svc = services()
    key = idempotency.key_from_request()
    body = read_json_body()
    new_tasks = _parse_items(body)
    check_callbacks(new_tasks, allow_private=svc.settings.webhooks_allow_private)
    with svc.submit_connection() as direct:
        outcome = idempotency.create_tasks(
            svc.engines,
            new_tasks,
            tenant=current_tenant(),
            key=key,
            fingerprint=idempotency.request_hash("batch", body) if key else "",
            ttl_s=svc.settings.idempotency_ttl_s,
            wake_relay=svc.relay_wakeup.ring,
            direct=direct,
        )
    if isinstance(outcome, idempotency.Replayed):
        statuses = _statuses(outcome.task_ids)
        items = [_item(str(i), statuses.get(str(i))) for i in outcome.task_ids]
        return jsonify({"count": len(items), "tasks": items}), 200
    for task in outcome.tasks:
        metrics.TASKS_SUBMITTED.labels(task.type).inc()
    items = [_item(str(t.id), t.status.value) for t in outcome.tasks]
    return jsonify({"count": len(items), "tasks": items}), 202
