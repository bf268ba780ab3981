"""A task's history: `GET /api/tasks/<id>/attempts` and `GET /api/tasks/<id>/webhooks`."""

from flask import Blueprint, Response, jsonify

from db.attempts import attempts_of
from db.webhooks import deliveries_of
from webapp.lookup import task_or_404
from webapp.services import services

bp = Blueprint("history", __name__, url_prefix="/api/tasks")


@bp.get("/<task_id:task_id>/attempts")
def attempts(task_id: str) -> Response:
    """Every attempt of the task, first one first: worker, times, outcome, error."""
    row = task_or_404(task_id)
    found = services().engines.read(lambda conn: attempts_of(conn, row["id"]))
    return jsonify({"task_id": str(row["id"]), "items": [a.view() for a in found]})


@bp.get("/<task_id:task_id>/webhooks")
def webhooks(task_id: str) -> Response:
    """The task's completion webhooks: where each went, how often it was tried, how it ended."""
    row = task_or_404(task_id)
    found = services().engines.read(lambda conn: deliveries_of(conn, row["id"]))
    return jsonify({"task_id": str(row["id"]), "items": [d.view() for d in found]})
