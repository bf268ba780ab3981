"""The web console: server-rendered pages under /ui/ for people, served by the API's process.

Signing in with an API key keeps the key's id in a signed session cookie (session.py); every
page looks the key up again through the API's key cache, and reads and writes through the same
db/ functions and webapp helpers as the API, with the key's tenant and scopes (access.py).
Every form that changes something carries a CSRF token, checked by Flask-WTF's CSRFProtect on
the console's requests only: the JSON API never reads a cookie (session.py), so a forged
cross-site request to it carries no credentials. Templates are autoescaped, there is no inline
script and no CDN, and every page gets the security headers below.
"""

import html
import logging

from flask import Flask, Response, render_template, request
from flask_wtf.csrf import CSRFProtect

from webapp import problems
from webapp.console import (
    auth_views,
    failed_views,
    health_views,
    session,
    task_views,
)
from webapp.console.blueprint import EXTENSION, STATIC_ENDPOINT, ConsoleState, bp
from webapp.settings import WebSettings

log = logging.getLogger(__name__)

# The views register themselves on `bp` when imported.
VIEWS = (auth_views, failed_views, health_views, task_views)
PREFIX = "/ui/"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _is_console(path: str) -> bool:
    return path == PREFIX.rstrip("/") or path.startswith(PREFIX)


def security_headers(response: Response) -> Response:
    """Headers of every console response, error pages included."""
    if not _is_console(request.path):
        return response
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != STATIC_ENDPOINT:
        # Pages show tasks and payloads: no copy of them in any cache, the browser's included.
        response.headers["Cache-Control"] = "no-store"
    return response


def error_page(status: int, title: str, detail: str) -> Response:
    """An error as a page for a person: the status, the API's words, never a traceback."""
    try:
        page = render_template("console/error.html", status=status, title=title, detail=detail)
    except Exception:  # A broken template must not turn an error page into a traceback.
        log.exception("the console's error page failed to render")
        text = html.escape(f"{title}: {detail}")
        page = f"<!doctype html><title>{status}</title><p>{text}</p>"
    return Response(page, status=status, mimetype="text/html")


def init_app(app: Flask, settings: WebSettings) -> None:
    """Serve the console on `app` under /ui/."""
    # Every template, whatever its name, escapes what it prints.
    app.jinja_env.autoescape = True
    problems.register_error_pages(app, PREFIX, error_page)
    app.after_request(security_headers)
    csrf = None
    secret = settings.ui_secret_key
    if secret is None:
        # A random key per process would make a session signed by one API worker process
        # unreadable by the next (the stack runs two to four, Kubernetes several pods), so
        # people would be signed out at random and by every restart. Without a shared key the
        # console stays off and says which variable to set; ops/stack.sh generates one.
        log.warning("web console off: WEBAPP_UI_SECRET_KEY is not set")
    else:
        app.secret_key = secret.get_secret_value()
        app.config.update(
            # Checked on the console's requests only (blueprint.py), never on the API's.
            WTF_CSRF_CHECK_DEFAULT=False,
            # A token lives as long as its session (bounded by WEBAPP_UI_SESSION_MAX_AGE_S),
            # so a form left open for an hour still works.
            WTF_CSRF_TIME_LIMIT=None,
        )
        session.configure(app, settings)
        csrf = CSRFProtect(app)
    app.extensions[EXTENSION] = ConsoleState(settings, csrf)
    app.register_blueprint(bp)


def close(app: Flask) -> None:
    """Stop the console's threads and close its client, if `app` serves the console."""
    state: ConsoleState | None = app.extensions.get(EXTENSION)
    if state is not None:
        state.close()
