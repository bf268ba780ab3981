"""`GET /api/tasks`: search tasks with filters, newest first, keyset pagination.

Searches run on the replica when one is configured (falling back to the primary when it is
down), so a task submitted a moment ago may be missing from results until the replica replays
it; `GET /api/tasks/<id>` falls back to the primary for exactly that case.
"""

from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, request

from db.search import encode_cursor, search_tasks
from webapp.auth import current_tenant
from webapp.search_params import parse_search
from webapp.services import services
from webapp.views import task_view

bp = Blueprint("search", __name__, url_prefix="/api/tasks")


@bp.get("")
def search() -> Response:
    """One page of matching tasks and, when more exist, the cursor and link of the next."""
    args = request.args.to_dict(flat=False)
    parsed = parse_search(args, tenant=current_tenant())
    page = services().engines.read(
        lambda conn: search_tasks(conn, parsed.where, parsed.limit, parsed.after)
    )
    body: dict[str, object] = {
        "items": [task_view(row) for row in page.rows],
        "limit": parsed.limit,
        "next_cursor": None,
        "links": {},
    }
    if page.next_cursor is not None:
        token = encode_cursor(page.next_cursor)
        args["cursor"] = [token]
        body["next_cursor"] = token
        body["links"] = {"next": f"{request.path}?{urlencode(args, doseq=True)}"}
    return jsonify(body)
