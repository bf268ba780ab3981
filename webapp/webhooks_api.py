"""`/api/webhooks`: the caller's tenant's default callback URL and signing secret (admin scope).

Deliveries are signed with HMAC-SHA256 in the Standard Webhooks scheme (`webhook-id`,
`webhook-timestamp`, `webhook-signature: v1,<base64>` over "id.timestamp.body"); the secret is
shown here to the tenant's admins, and rotating it takes effect with the next delivery.
"""

from typing import Any

from flask import Blueprint, Response, jsonify

from db import webhooks
from taskkit.urlsafety import target_problem
from webapp.auth import current_tenant, requires_scope
from webapp.errors import ValidationError
from webapp.services import services
from webapp.tasks_api import read_json_body

bp = Blueprint("webhooks", __name__, url_prefix="/api/webhooks")


def _view(row: dict[str, Any]) -> dict[str, Any]:
    return {"url": row["url"], "secret": row["secret"], "updated_at": row["updated_at"].isoformat()}


@bp.get("")
@requires_scope("admin")
def get_config() -> Response:
    """The tenant's default callback URL (null: none) and signing secret."""
    with services().engines.primary.begin() as conn:
        row = webhooks.ensure_tenant(conn, current_tenant())
    return jsonify(_view(row))


@bp.put("")
@requires_scope("admin")
def set_config() -> Response:
    """Register the default callback URL of the tenant's tasks (`{"url": null}` removes it)."""
    body = read_json_body()
    if not isinstance(body, dict) or set(body) != {"url"}:
        raise ValidationError('the body must be {"url": "https://..."} or {"url": null}')
    url = body["url"]
    if url is not None:
        if not isinstance(url, str):
            raise ValidationError("url must be a string or null", field="url")
        allow = services().settings.webhooks_allow_private
        problem = target_problem(url, allow_private=allow)
        if problem is not None:
            raise ValidationError(f"url {problem}", field="url")
    with services().engines.primary.begin() as conn:
        row = webhooks.set_default_url(conn, current_tenant(), url)
    return jsonify(_view(row))


@bp.post("/secret")
@requires_scope("admin")
def rotate() -> Response:
    """Replace the tenant's signing secret; deliveries from now on are signed with the new one."""
    with services().engines.primary.begin() as conn:
        row = webhooks.rotate_secret(conn, current_tenant())
    return jsonify(_view(row))
