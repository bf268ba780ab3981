"""Task endpoints: submit and read."""

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from db.tasks_repo import get_task
from webapp import hooks, idempotency, metrics
from webapp.auth import current_tenant
from webapp.callbacks import check_callbacks
from webapp.errors import (
    ConflictError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from webapp.lookup import task_or_404
from webapp.services import services
from webapp.validation import parse_json, parse_submission
from webapp.views import task_view

bp = Blueprint("tasks", __name__, url_prefix="/api/tasks")


def read_json_body() -> Any:
    """The request body as strict JSON, within the size limit, or an ApiError."""
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaTypeError("send the body as application/json")
    limit = services().settings.max_body_bytes
    # Read one byte past the limit so a chunked body (no Content-Length) is bounded too.
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise PayloadTooLargeError(f"the body exceeds {limit} bytes")
    return parse_json(raw)


def submission_view(row: dict[str, Any]) -> dict[str, Any]:
    """What a submit answers about one task (also when an idempotent retry replays it)."""
    location = f"/api/tasks/{row['id']}"
    return {
        "id": str(row["id"]),
        "status": str(row["status"]),
        "type": row["type"],
        "created_at": row["created_at"].isoformat(),
        "correlation_id": row["correlation_id"],
        "priority": row["priority"],
        "run_at": row["run_at"].isoformat() if row.get("run_at") else None,
        "links": {"self": location},
    }


@bp.post("")
def submit_task() -> tuple[Response, int, dict[str, str]]:
    """Accept one task: store it with its outbox row in one transaction, answer 202.

    With an Idempotency-Key that an earlier identical request used, answer 200 with its task.
    """
    svc = services()
    key = idempotency.key_from_request()
    body = read_json_body()
    tenant = current_tenant()
    new = parse_submission(
        body, svc.catalog, svc.limits, correlation_id=g.correlation_id, tenant=tenant
    )
    check_callbacks([new], allow_private=svc.settings.webhooks_allow_private)
    with svc.submit_connection() as direct:
        outcome = idempotency.create_tasks(
            svc.engines,
            [new],
            tenant=tenant,
            key=key,
            fingerprint=idempotency.request_hash("task", body) if key else "",
            ttl_s=svc.settings.idempotency_ttl_s,
            wake_relay=svc.relay_wakeup.ring,
            direct=direct,
        )
    if isinstance(outcome, idempotency.Replayed):
        with svc.engines.primary.connect() as conn:
            row = get_task(conn, outcome.task_ids[0])
        if row is None:
            # Retention dropped it; answering with a new task would break the key's promise.
            raise ConflictError(
                "the task this Idempotency-Key created no longer exists; use a new key"
            )
        view = submission_view(row)
        return jsonify(view), 200, {"Location": view["links"]["self"]}
    (task,) = outcome.tasks
    metrics.TASKS_SUBMITTED.labels(task.type).inc()
    hooks.task_accepted(str(task.id), task.type)
    view = submission_view(
        {
            "id": task.id,
            "status": task.status.value,
            "type": task.type,
            "created_at": task.created_at,
            "correlation_id": g.correlation_id,
            "priority": new.priority,
            "run_at": new.run_at,
        }
    )
    return jsonify(view), 202, {"Location": view["links"]["self"]}


@bp.get("/<task_id:task_id>")
def get_task_by_id(task_id: str) -> Response:
    """Return one task; 404 for an unknown or malformed id."""
    return jsonify(task_view(task_or_404(task_id)))
