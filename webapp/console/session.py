"""Who is signed in to the console: a signed session cookie holding an API key's id.

The cookie holds the key's id, never the key: Flask's session is signed, not encrypted, so
anything in it can be read by whoever sees the cookie. Each request looks the id up again
through the API's own key cache (webapp/auth.py), so a revoked key ends its sessions within
WEBAPP_AUTH_CACHE_TTL_S, as it stops working on the API. A session also ends
WEBAPP_UI_SESSION_MAX_AGE_S after its sign-in. Signing out clears the cookie; a copy taken
before stays valid until one of those two happens, so revoke a key whose cookie leaked.
"""

import time
import uuid

from flask import Flask, Request, flash, g, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from webapp import auth
from webapp.auth import ANONYMOUS, Principal
from webapp.console.blueprint import STATIC_ENDPOINT, bp
from webapp.services import services
from webapp.settings import WebSettings

PRINCIPAL = "console_principal"
KEY_ID = "key_id"
SIGNED_IN_AT = "signed_in_at"
COOKIE_NAME = "taskservice_console"
COOKIE_PATH = "/ui"


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, for the console's paths only and Secure over https."""

    def __init__(self, cookie_secure: bool | None) -> None:
        self.cookie_secure = cookie_secure

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        # The JSON API never sees a session (None gives Flask's null session), so no cookie
        # can ever authenticate an API request: the API needs no CSRF defence of its own.
        if not (request.path == COOKIE_PATH or request.path.startswith(COOKIE_PATH + "/")):
            return None
        return super().open_session(app, request)

    def get_cookie_secure(self, app: Flask) -> bool:
        if self.cookie_secure is not None:
            return self.cookie_secure
        return request.is_secure


def configure(app: Flask, settings: WebSettings) -> None:
    """Install the console's session cookie: HttpOnly, SameSite=Lax, path /ui, bounded age."""
    app.session_interface = ConsoleSessionInterface(settings.ui_cookie_secure)
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_PATH=COOKIE_PATH,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Flask refuses a cookie whose signature is older than this.
        PERMANENT_SESSION_LIFETIME=settings.ui_session_max_age_s,
    )


def sign_in(principal: Principal) -> None:
    """Start a fresh session for `principal` (a new CSRF token too: no fixation)."""
    session.clear()
    session[KEY_ID] = principal.key_id
    session[SIGNED_IN_AT] = time.time()


def sign_out() -> None:
    """End the session."""
    session.clear()


def current() -> Principal | None:
    """The principal signed in for this request, None when nobody is."""
    found = g.get(PRINCIPAL)
    return found if isinstance(found, Principal) else None


def _from_session() -> Principal | None:
    key_id = session.get(KEY_ID)
    if not isinstance(key_id, str):
        return None
    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        session.clear()
        return None
    started = session.get(SIGNED_IN_AT)
    max_age_s = services().settings.ui_session_max_age_s
    if not isinstance(started, int | float) or time.time() - started > max_age_s:
        session.clear()
        flash("your session expired; sign in again", "error")
        return None
    principal = auth.principal_for_key_id(parsed)
    if principal is None:
        session.clear()
        flash("your API key was revoked; sign in with another one", "error")
    return principal


@bp.before_request
def _load_principal() -> None:
    """Resolve the signed-in key for this request (after the CSRF check of the blueprint)."""
    if request.endpoint == STATIC_ENDPOINT:
        return
    if not services().settings.auth_enabled:
        principal: Principal | None = ANONYMOUS
    else:
        principal = _from_session()
    if principal is not None:
        setattr(g, PRINCIPAL, principal)
        # The API's helpers (webapp.lookup, current_tenant) read the caller from here.
        g.principal = principal


@bp.context_processor
def _who() -> dict[str, object]:
    return {"who": current()}
