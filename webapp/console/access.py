"""What a signed-in key may see and do in the console.

A key without `admin` sees exactly what it sees on the API: its own tenant, and another
tenant's task or re-drive is a 404, word for word. An `admin` key is an operator's: the
console lets it read every tenant (the tenant filter of the lists, any task page), as
`all_tenants` lets it re-drive every tenant on the API; its Retry of another tenant's task is
such an all-tenants re-drive. Cancelling stays confined to the key's own tenant, as on the API.
"""

import functools
import uuid
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import redirect, request, url_for

from db import redrives
from webapp.auth import Principal
from webapp.console import session
from webapp.errors import ForbiddenError, NotFoundError
from webapp.lookup import find_task
from webapp.services import services

F = TypeVar("F", bound=Callable[..., Any])


def reads_every_tenant(principal: Principal) -> bool:
    """Whether the principal may read every tenant's tasks (admin, or authentication off)."""
    return principal.tenant is None or principal.allows("admin")


def signed_in(scope: str = "read") -> Callable[[F], F]:
    """Send a visitor who is not signed in to the sign-in page; refuse a key without `scope`."""

    def wrap(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            principal = session.current()
            if principal is None:
                return redirect(url_for("console.sign_in", next=request.full_path))
            if not principal.allows(scope):
                raise ForbiddenError(f"this API key lacks the '{scope}' scope")
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return wrap


def principal() -> Principal:
    """The signed-in principal of a view behind `signed_in`."""
    found = session.current()
    if found is None:
        raise ForbiddenError("sign in first")
    return found


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path of this site, never another site."""
    default = url_for("console.tasks")
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/ui/") or "\\" in target:
        return default
    return target


def visible_task(task_id: uuid.UUID) -> dict[str, Any]:
    """The task's row, or the API's 404 when the key may not see it."""
    who = principal()
    row = find_task(task_id)
    if row is None or (not reads_every_tenant(who) and row.get("tenant") != who.tenant):
        raise NotFoundError(f"no task with id {task_id}")
    return row


def may_cancel(row: dict[str, Any]) -> bool:
    """Whether the key may cancel this task: its own tenant's (or authentication is off)."""
    who = principal()
    return who.allows("submit") and (who.tenant is None or row.get("tenant") == who.tenant)


def visible_redrive(redrive_id: uuid.UUID) -> redrives.Redrive:
    """The re-drive, or the API's 404 when the key may not see it."""
    who = principal()
    with services().engines.primary.connect() as conn:
        found = redrives.get(conn, redrive_id)
    if found is None or (not reads_every_tenant(who) and found.tenant != who.tenant):
        raise NotFoundError(f"no re-drive with id {redrive_id}")
    return found
