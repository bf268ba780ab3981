"""`POST /api/tasks/<id>/cancel`: cancellation stored in PostgreSQL, honoured by every worker."""

from flask import Blueprint, Response, jsonify

from db.cancel import CancelOutcome, cancel_task
from db.ids import parse_task_id
from db.tasks_repo import get_task
from webapp.auth import current_tenant
from webapp.errors import ConflictError, NotFoundError
from webapp.services import services
from webapp.views import task_view

bp = Blueprint("cancel", __name__, url_prefix="/api/tasks")


@bp.post("/<task_id:task_id>/cancel")
def cancel(task_id: str) -> tuple[Response, int]:
    """200 when cancelled now; 202 when an attempt is running and stops the task after it;
    409 when the task already finished; 404 when unknown or another tenant's."""
    parsed = parse_task_id(task_id)
    if parsed is None:
        raise NotFoundError(f"no task with id {task_id[:64]!r}")
    engine = services().engines.primary
    with engine.begin() as conn:
        result = cancel_task(conn, parsed, current_tenant())
        row = get_task(conn, parsed)
    if result.outcome is CancelOutcome.NOT_FOUND or row is None:
        raise NotFoundError(f"no task with id {task_id}")
    if result.outcome is CancelOutcome.TERMINAL:
        raise ConflictError(
            f"task {task_id} is already {result.status} and cannot be cancelled",
            task_status=result.status,
        )
    status = 200 if result.outcome is CancelOutcome.CANCELLED else 202
    return jsonify(task_view(row)), status
