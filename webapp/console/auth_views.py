"""Signing in to the console with an API key, and signing out."""

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from webapp import auth
from webapp.console import session
from webapp.console.access import safe_next
from webapp.console.blueprint import bp
from webapp.services import services

# Longer than any key `taskctl apikey create` makes; a bigger form is not a key.
MAX_KEY_CHARS = 256


def _form(error: str | None, status: int) -> tuple[str, int]:
    html = render_template(
        "console/sign_in.html",
        error=error,
        next=safe_next(request.values.get("next")),
        auth_enabled=services().settings.auth_enabled,
    )
    return html, status


@bp.get("/sign-in")
def sign_in() -> Response | tuple[str, int]:
    """The sign-in form (or, when someone is signed in already, where they were going)."""
    if session.current() is not None and services().settings.auth_enabled:
        return redirect(safe_next(request.args.get("next")))
    return _form(None, 200)


@bp.post("/sign-in")
def sign_in_post() -> Response | tuple[str, int]:
    """Check the key the way the API checks a bearer token, then start a session."""
    if not services().settings.auth_enabled:
        return redirect(safe_next(request.form.get("next")))
    key = request.form.get("api_key", "").strip()
    if not key or len(key) > MAX_KEY_CHARS:
        return _form("enter an API key", 400)
    principal = auth.principal_for_key(key)
    if principal is None:
        return _form("the API key is unknown or revoked", 401)
    if not principal.allows("read"):
        return _form("this API key lacks the 'read' scope the console needs", 403)
    session.sign_in(principal)
    flash(f"signed in as {principal.name} (tenant {principal.tenant})", "info")
    return redirect(safe_next(request.form.get("next")))


@bp.post("/sign-out")
def sign_out() -> Response:
    """End the session (the form carries the CSRF token, so no other site can sign you out)."""
    session.sign_out()
    flash("signed out", "info")
    return redirect(url_for("console.sign_in"))
