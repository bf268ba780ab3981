"""Rate limits per API key, counted in Redis so they hold across every API process.

Each key has one budget per scope: the key's own limit when an operator set one
(`taskctl apikey create --rate-limit`), else the scope's configured limit, else the default.
Without authentication the budget belongs to the client address, which is read from
X-Forwarded-For only when the operator configured how many proxies to trust.

When Redis cannot be reached the limiter fails open: requests are served without a limit,
each failure is logged and counted in `rate_limit_storage_errors_total`, so an alert can fire.
Accepting tasks needs only PostgreSQL (the outbox); an outage of the limiter's store should
not become an outage of submissions.
"""

import logging

from flask import Flask, request
from flask_limiter import Limiter
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp import metrics
from webapp.auth import current_principal, required_scope
from webapp.ratelimit_storage import storage_uri
from webapp.services import services
from webapp.settings import WebSettings

EXTENSION = "taskservice-limiter"
KEY_PREFIX = "taskservice-rl"


class _CountStorageErrors(logging.Handler):
    """Counts the storage failures Flask-Limiter logs and swallows (its fail-open path)."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            metrics.RATE_LIMIT_STORAGE_ERRORS.inc()


def rate_key() -> str:
    """The budget a request spends: its API key (or address) and the scope it needs."""
    principal = current_principal()
    who = f"key:{principal.key_id}" if principal.key_id else f"ip:{request.remote_addr}"
    return f"{who}:{required_scope() or 'public'}"


def limit_for_request() -> str:
    """The limit of the current request's budget (a limits string, e.g. '100/minute')."""
    principal = current_principal()
    if principal.rate_limit:
        return principal.rate_limit
    settings = services().settings
    per_scope = {
        "submit": settings.rate_limit_submit,
        "read": settings.rate_limit_read,
        "admin": settings.rate_limit_admin,
    }
    return per_scope.get(required_scope() or "") or settings.rate_limit_default


def _exempt() -> bool:
    return required_scope() is None


def make_limiter(settings: WebSettings) -> Limiter:
    """A Limiter counting in the settings' Redis (one round trip per request, see
    webapp/ratelimit_storage.py); connects on first use."""
    return Limiter(
        rate_key,
        application_limits=[limit_for_request],
        application_limits_exempt_when=_exempt,
        storage_uri=storage_uri(settings.rate_limit_storage_url or settings.redis_url),
        storage_options={"socket_timeout": 1, "socket_connect_timeout": 1},
        strategy=settings.rate_limit_strategy,
        headers_enabled=True,
        swallow_errors=True,
        key_prefix=KEY_PREFIX,
    )


def init_app(app: Flask, settings: WebSettings) -> None:
    """Install the limiter; its check runs after authentication (webapp/hooks.py)."""
    if settings.trusted_proxy_count > 0:
        count = settings.trusted_proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count)  # type: ignore[method-assign]
    limiter = make_limiter(settings)
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter
    flask_limiter_log = logging.getLogger("flask-limiter")
    if not any(isinstance(h, _CountStorageErrors) for h in flask_limiter_log.handlers):
        flask_limiter_log.addHandler(_CountStorageErrors())


def close(app: Flask) -> None:
    """Close the limiter's Redis connections. A server process never needs to (they end with
    it), but a process that builds many apps, the tests, would leave their sockets open."""
    limiter: Limiter | None = app.extensions.get(EXTENSION)
    client = getattr(limiter.storage, "storage", None) if limiter is not None else None
    if client is not None:
        client.close()
