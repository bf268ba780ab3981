"""The task pages: the list, one task (attempts, webhooks), and its Retry and Cancel, each
behind a confirmation page so they work without JavaScript."""

import uuid
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from db import redrives
from db.attempts import attempts_of
from db.cancel import CancelOutcome, cancel_task
from db.ids import parse_task_id
from db.models import ACTIVE_STATUSES, TaskStatus
from db.webhooks import deliveries_of
from webapp import redrives_api
from webapp.console.access import (
    may_cancel,
    principal,
    reads_every_tenant,
    signed_in,
    visible_redrive,
    visible_task,
)
from webapp.console.blueprint import bp
from webapp.console.listing import load_page, pretty
from webapp.errors import ConflictError, ForbiddenError, NotFoundError
from webapp.services import services

STATUSES = [s.value for s in TaskStatus]
ACTIVE = frozenset(s.value for s in ACTIVE_STATUSES)
# Seconds between reloads of a page whose task or re-drive is still moving.
REFRESH_S = 2


def _task_id(text: str) -> uuid.UUID:
    parsed = parse_task_id(text)
    if parsed is None:
        raise NotFoundError(f"no task with id {text[:64]!r}")
    return parsed


@bp.get("/")
def index() -> Response:
    """The console starts at the task list."""
    return redirect(url_for("console.tasks"))


@bp.get("/tasks")
@signed_in()
def tasks() -> tuple[str, int]:
    """Tasks newest first, filtered by status, type, payload, error type (and tenant)."""
    who = principal()
    page = load_page(request.args.to_dict(flat=False), who)
    html = render_template(
        "console/tasks.html",
        page=page,
        statuses=STATUSES,
        admin=reads_every_tenant(who),
    )
    return html, page.status


def _task_page(row: dict[str, Any], redrive: redrives.Redrive | None) -> str:
    engines = services().engines
    attempts = engines.read(lambda conn: attempts_of(conn, row["id"]))
    deliveries = engines.read(lambda conn: deliveries_of(conn, row["id"]))
    moving = row["status"] in ACTIVE or (redrive is not None and redrive.state in redrives.ACTIVE)
    who = principal()
    return render_template(
        "console/task.html",
        task=row,
        payload=pretty(row["payload"]),
        result=pretty(row["result"]) if row.get("result") is not None else None,
        attempts=attempts,
        deliveries=deliveries,
        redrive=redrive,
        refresh_s=REFRESH_S if moving else None,
        can_retry=row["status"] == TaskStatus.FAILED and who.allows("submit"),
        can_cancel=row["status"] in ACTIVE and may_cancel(row),
    )


@bp.get("/tasks/<task_id:task_id>")
@signed_in()
def task(task_id: str) -> str:
    """One task: payload, result, attempts of every run, errors, webhooks; while it (or the
    re-drive named by `?redrive=`) is still moving, the page reloads itself."""
    row = visible_task(_task_id(task_id))
    redrive = None
    wanted = request.args.get("redrive", "")
    if wanted:
        try:
            redrive = visible_redrive(uuid.UUID(wanted))
        except (ValueError, NotFoundError):
            flash("that re-drive does not exist or is not yours", "error")
    return _task_page(row, redrive)


def _confirm(row: dict[str, Any], action: str, error: str | None = None) -> str:
    return render_template(
        "console/confirm_task.html",
        task=row,
        action=action,
        payload=pretty(row["payload"]),
        error=error,
    )


@bp.get("/tasks/<task_id:task_id>/retry")
@signed_in("submit")
def confirm_retry(task_id: str) -> str:
    """Ask before re-driving a FAILED task."""
    row = visible_task(_task_id(task_id))
    error = None
    if row["status"] != TaskStatus.FAILED:
        error = f"the task is {row['status']}; only FAILED tasks can be re-driven"
    return _confirm(row, "retry", error)


@bp.post("/tasks/<task_id:task_id>/retry")
@signed_in("submit")
def retry(task_id: str) -> Response | tuple[str, int]:
    """Re-drive one FAILED task: a re-drive resource of that task alone, made exactly as
    `POST /api/redrives {"filter": {"task_ids": [id]}}` makes it."""
    who = principal()
    row = visible_task(_task_id(task_id))
    if row["status"] != TaskStatus.FAILED:
        message = f"the task is {row['status']}; only FAILED tasks can be re-driven"
        return _confirm(row, "retry", message), ConflictError.status
    # Another tenant's task (an admin's view) is reachable only by an all-tenants re-drive.
    cross = who.tenant is not None and row.get("tenant") != who.tenant
    body = {"filter": {"task_ids": [str(row["id"])]}, "all_tenants": cross}
    created = redrives_api.start(body, who)
    flash(f"re-drive {created.id} started", "info")
    return redirect(url_for("console.task", task_id=str(row["id"]), redrive=str(created.id)))


@bp.get("/tasks/<task_id:task_id>/cancel")
@signed_in("submit")
def confirm_cancel(task_id: str) -> str:
    """Ask before cancelling a task."""
    row = visible_task(_task_id(task_id))
    error = None
    if row["status"] not in ACTIVE:
        error = f"the task is already {row['status']} and cannot be cancelled"
    elif not may_cancel(row):
        error = "only a key of the task's own tenant can cancel it"
    return _confirm(row, "cancel", error)


@bp.post("/tasks/<task_id:task_id>/cancel")
@signed_in("submit")
def cancel(task_id: str) -> Response | tuple[str, int]:
    """Cancel a task with the API's function and tenant: at once when no attempt runs, after
    the running attempt otherwise; a finished task cannot be cancelled."""
    who = principal()
    parsed = _task_id(task_id)
    row = visible_task(parsed)
    if not may_cancel(row):
        raise ForbiddenError("only a key of the task's own tenant can cancel it")
    with services().engines.primary.begin() as conn:
        result = cancel_task(conn, parsed, who.tenant)
    if result.outcome is CancelOutcome.NOT_FOUND:
        raise NotFoundError(f"no task with id {task_id}")
    if result.outcome is CancelOutcome.TERMINAL:
        message = f"the task is already {result.status} and cannot be cancelled"
        return _confirm(row, "cancel", message), ConflictError.status
    if result.outcome is CancelOutcome.CANCELLED:
        flash("task cancelled", "info")
    else:
        flash("cancellation requested: the task stops once its running attempt ends", "info")
    return redirect(url_for("console.task", task_id=task_id))
