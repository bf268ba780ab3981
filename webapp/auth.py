"""Bearer API-key authentication, scopes and the tenant every task request is confined to.

Every route under /api/ needs a key unless it is listed in PUBLIC_ENDPOINTS. A view states the
scope it needs with `@requires_scope`; without one, reads (GET, HEAD) need `read` and writes need
`submit`, so a new endpoint is never open by accident. `admin` grants every scope; it does not
cross tenants.
"""

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa
from flask import Response, current_app, g, request

from db.api_keys import (
    SCOPES,
    ApiKeyRecord,
    find_active_key,
    find_active_key_by_id,
    hash_key,
)
from webapp.errors import ForbiddenError, ServiceUnavailableError, UnauthorizedError
from webapp.services import services

F = TypeVar("F", bound=Callable[..., object])

SCOPE_ATTR = "_required_scope"
# Endpoints under /api/ that need no key: the API's own description and its reference page.
PUBLIC_ENDPOINTS = frozenset({"openapi.document", "openapi.reference", "openapi.assets"})
BEARER = re.compile(r"^Bearer ([A-Za-z0-9._~+/=\-]{16,256})$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's tenant and scopes. tenant None = authentication is off."""

    key_id: str | None
    name: str
    tenant: str | None
    scopes: frozenset[str]
    rate_limit: str | None = None

    def allows(self, scope: str) -> bool:
        """Whether this caller holds `scope` (admin holds them all)."""
        return scope in self.scopes or "admin" in self.scopes


ANONYMOUS = Principal(key_id=None, name="anonymous", tenant=None, scopes=frozenset(SCOPES))


def requires_scope(scope: str) -> Callable[[F], F]:
    """Mark a view as needing `scope` (instead of the method's default)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def mark(view: F) -> F:
        setattr(view, SCOPE_ATTR, scope)
        return view

    return mark


def required_scope() -> str | None:
    """The scope the current request's endpoint needs; None for public ones."""
    endpoint = request.endpoint
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS or not request.path.startswith("/api/"):
        return None
    view = current_app.view_functions.get(endpoint)
    declared = getattr(view, SCOPE_ATTR, None)
    if isinstance(declared, str):
        return declared
    return "read" if request.method in {"GET", "HEAD", "OPTIONS"} else "submit"


def current_principal() -> Principal:
    """The caller of the current request (set by the before-request hook)."""
    found = g.get("principal")
    return found if isinstance(found, Principal) else ANONYMOUS


def current_tenant() -> str | None:
    """The tenant the current request is confined to; None when authentication is off."""
    return current_principal().tenant


def _principal_of(record: ApiKeyRecord) -> Principal:
    return Principal(
        key_id=str(record.id),
        name=record.name,
        tenant=record.tenant,
        scopes=frozenset(record.scopes),
        rate_limit=record.rate_limit,
    )


def _cached(
    cache_key: str, fetch: Callable[[sa.Connection], ApiKeyRecord | None]
) -> Principal | None:
    """The principal of an active key: from the short-lived cache, else from PostgreSQL.

    Only keys that were found are cached, so a key created a moment ago works at once; a
    revoked one stops working within `auth_cache_ttl_s`.
    """
    svc = services()
    cache = svc.key_cache
    if cache is not None:
        with svc.key_cache_lock:
            cached = cache.get(cache_key)
        if isinstance(cached, Principal):
            return cached
    try:
        with svc.engines.primary.connect() as conn:
            record = fetch(conn)
    except sa.exc.OperationalError:
        raise ServiceUnavailableError("the key store is unavailable") from None
    if record is None:
        return None
    principal = _principal_of(record)
    if cache is not None:
        with svc.key_cache_lock:
            cache[cache_key] = principal
    return principal


def principal_for_key(key: str) -> Principal | None:
    """The principal of an active API key, None when it is unknown or revoked."""
    return _cached(hash_key(key), lambda conn: find_active_key(conn, key))


def principal_for_key_id(key_id: uuid.UUID) -> Principal | None:
    """The principal of the active key with this id (the web console's session holds only
    the id); None when it was revoked. Cached like `principal_for_key`, so a revocation
    reaches the console within the same `auth_cache_ttl_s` as the API."""
    return _cached(f"id:{key_id}", lambda conn: find_active_key_by_id(conn, key_id))


def authenticate() -> None:
    """Resolve the key of a request that needs one, or raise 401/403 (webapp/hooks.py)."""
    scope = required_scope()
    svc = services()
    if scope is None:
        return
    if not svc.settings.auth_enabled:
        g.principal = ANONYMOUS
        return
    header = request.headers.get("Authorization")
    if not header:
        raise UnauthorizedError("send an API key as 'Authorization: Bearer <key>'")
    match = BEARER.match(header)
    if match is None:
        raise UnauthorizedError("the Authorization header is not 'Bearer <key>'")
    principal = principal_for_key(match.group(1))
    if principal is None:
        raise UnauthorizedError("the API key is unknown or revoked")
    g.principal = principal
    if not principal.allows(scope):
        raise ForbiddenError(f"this API key lacks the '{scope}' scope", required_scope=scope)


def challenge(response: Response) -> None:
    """A 401 names the scheme the client should use (RFC 9110, 11.6.1)."""
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="tasks"'
