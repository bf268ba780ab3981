"""`GET /api/openapi.json` and the API reference page `/api/docs`, whose Swagger UI assets come
from the flask-swagger-ui package and are served by this API (no CDN)."""

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Response, abort, jsonify, send_from_directory

from webapp.openapi_spec import build_document
from webapp.services import services

bp = Blueprint("openapi", __name__, url_prefix="/api")

ASSETS = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
SERVED_ASSETS = frozenset(
    {"swagger-ui.css", "swagger-ui-bundle.js", "index.css", "favicon-32x32.png"}
)

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Task service API reference</title>
  <link rel="stylesheet" href="/api/docs/assets/swagger-ui.css">
  <link rel="stylesheet" href="/api/docs/assets/index.css">
  <link rel="icon" href="/api/docs/assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/api/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/api/docs/assets/init.js"></script>
</body>
</html>
"""

# A separate file rather than an inline script, so the page works under a strict CSP.
INIT = """window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true
  });
};
"""

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'"
)


@bp.get("/openapi.json")
def document() -> Response:
    """The OpenAPI 3.1 document of this API."""
    svc = services()
    return jsonify(build_document(svc.settings, sorted(svc.catalog)))


@bp.get("/docs")
def reference() -> Response:
    """The API reference page."""
    return Response(PAGE, mimetype="text/html", headers={"Content-Security-Policy": CSP})


@bp.get("/docs/assets/<name>")
def assets(name: str) -> Response:
    """Swagger UI's files, from the installed package."""
    if name == "init.js":
        return Response(INIT, mimetype="text/javascript")
    if name not in SERVED_ASSETS:
        abort(404)
    return send_from_directory(ASSETS, name, max_age=3600)
