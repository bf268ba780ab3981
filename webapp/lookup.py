"""Finding the task a URL names, for the caller's tenant, or a 404 that leaks nothing."""

import uuid
from typing import Any

from db.ids import parse_task_id
from db.tasks_repo import get_task
from webapp.auth import current_tenant
from webapp.errors import NotFoundError
from webapp.services import services


def find_task(task_id: uuid.UUID) -> dict[str, Any] | None:
    """The task's row, read from the replica when there is one, falling back to the primary
    for a task submitted a moment ago; None when there is none (whatever its tenant)."""
    engines = services().engines
    row = engines.read(lambda conn: get_task(conn, task_id))
    if row is None and engines.replica is not None:
        # Read-your-writes: the replica may not have replayed a task submitted a moment ago.
        with engines.primary.connect() as conn:
            row = get_task(conn, task_id)
    return row


def task_or_404(task_id: str) -> dict[str, Any]:
    """The task's row (see `find_task`); another tenant's task is answered exactly like a
    missing one, so ids leak nothing."""
    parsed = parse_task_id(task_id)
    if parsed is None:
        raise NotFoundError(f"no task with id {task_id[:64]!r}")
    row = find_task(parsed)
    tenant = current_tenant()
    if row is None or (tenant is not None and row.get("tenant") != tenant):
        raise NotFoundError(f"no task with id {task_id}")
    return row
