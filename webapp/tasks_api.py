"""Task endpoints: submit and read."""

from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from db.ids import parse_task_id
from db.tasks_repo import get_task, insert_tasks
from webapp import metrics
from webapp.errors import NotFoundError, PayloadTooLargeError, UnsupportedMediaTypeError
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


@bp.post("")
def submit_task() -> tuple[Response, int, dict[str, str]]:
    """Accept one task: store it with its outbox row in one transaction, answer 202."""
    svc = services()
    new = parse_submission(
        read_json_body(), svc.handlers, svc.limits, correlation_id=g.correlation_id
    )
    with svc.engines.primary.begin() as conn:
        (task,) = insert_tasks(conn, [new])
    metrics.TASKS_SUBMITTED.labels(task.type).inc()
    location = f"/api/tasks/{task.id}"
    body = {
        "id": str(task.id),
        "status": task.status.value,
        "type": task.type,
        "created_at": task.created_at.isoformat(),
        "correlation_id": g.correlation_id,
        "links": {"self": location},
    }
    return jsonify(body), 202, {"Location": location}


@bp.get("/<task_id>")
def get_task_by_id(task_id: str) -> Response:
    """Return one task; 404 for an unknown or malformed id."""
    parsed = parse_task_id(task_id)
    if parsed is None:
        raise NotFoundError(f"no task with id {task_id[:64]!r}")
    engines = services().engines
    with engines.reader.connect() as conn:
        row = get_task(conn, parsed)
    if row is None and engines.replica is not None:
        # Read-your-writes: the replica may not have replayed a task submitted a moment ago.
        with engines.primary.connect() as conn:
            row = get_task(conn, parsed)
    if row is None:
        raise NotFoundError(f"no task with id {task_id}")
    return jsonify(task_view(row))
