"""application/problem+json responses (RFC 9457), and the handlers that produce them."""

import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, json, request
from werkzeug.exceptions import HTTPException

from db.errors import DatabaseUnavailableError
from webapp.errors import ApiError

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://taskservice.dev/problems/"
# Path prefixes whose errors are pages for a person rather than problem documents (the web
# console's /ui/), each with the function that renders one: (status, title, detail) -> page.
ERROR_PAGES = "taskservice-error-pages"
PageRenderer = Callable[[int, str, str], Response]


def problem(status: int, title: str, detail: str, slug: str, **extra: Any) -> Response:
    """Build a problem+json response; every error the API returns goes through here."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    correlation_id = g.get("correlation_id")
    if correlation_id:
        body["correlation_id"] = correlation_id
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    return response


def register_error_pages(app: Flask, prefix: str, render: PageRenderer) -> None:
    """Answer errors of requests under `prefix` with `render`'s page instead of a problem."""
    app.extensions.setdefault(ERROR_PAGES, {})[prefix] = render


def _answer(status: int, title: str, detail: str, slug: str, **extra: Any) -> Response:
    """The error as a page where a prefix asked for one, else as a problem document."""
    pages: dict[str, PageRenderer] = current_app.extensions.get(ERROR_PAGES, {})
    for prefix, render in pages.items():
        if request.path == prefix.rstrip("/") or request.path.startswith(prefix):
            return render(status, title, detail)
    return problem(status, title, detail, slug, **extra)


def init_app(app: Flask) -> None:
    """Register the handlers that turn every error into a problem response (or a page)."""

    @app.errorhandler(ApiError)
    def on_api_error(err: ApiError) -> Response:
        return _answer(err.status, err.title, err.detail, err.slug, **err.extra)

    @app.errorhandler(HTTPException)
    def on_http_error(err: HTTPException) -> Response:
        status = err.code or 500
        slug = (err.name or "error").lower().replace(" ", "-")
        response = _answer(status, err.name or "Error", err.description or "", slug)
        if status == 405 and err.get_response().headers.get("Allow"):
            response.headers["Allow"] = err.get_response().headers["Allow"]
        return response

    @app.errorhandler(sa.exc.OperationalError)
    @app.errorhandler(sa.exc.InterfaceError)
    @app.errorhandler(DatabaseUnavailableError)
    def on_database_unavailable(err: Exception) -> Response:
        # Nothing was stored (the transaction did not commit), so the client may retry.
        cause = err.orig if isinstance(err, sa.exc.DBAPIError) else err
        log.warning("database unavailable on %s %s: %s", request.method, request.path, cause)
        response = _answer(
            503, "Service Unavailable", "the database is unavailable; retry later", "unavailable"
        )
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(Exception)
    def on_unexpected(err: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _answer(500, "Internal Server Error", "an unexpected error occurred", "internal")
