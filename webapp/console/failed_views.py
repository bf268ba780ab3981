"""The failed tasks (the dead-letter view) and re-drives: a bulk re-drive by the view's
filter, confirmed after a dry run counted what it matches, its progress page, recent ones."""

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from flask import redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from db import redrives
from db.models import TaskStatus
from webapp import redrives_api
from webapp.auth import Principal
from webapp.console.access import principal, reads_every_tenant, signed_in, visible_redrive
from webapp.console.blueprint import bp
from webapp.console.filters import FAILED_FIELDS, form_values, parse_list
from webapp.console.listing import load_page, pretty
from webapp.errors import ApiError, BadRequestError
from webapp.services import services

FAILED = (TaskStatus.FAILED.value,)
REFRESH_S = 2
RECENT = 50


@bp.get("/failed")
@signed_in()
def failed() -> tuple[str, int]:
    """FAILED tasks by type, error type, failure time and payload, with a bulk re-drive."""
    who = principal()
    args = request.args.to_dict(flat=False)
    page = load_page(args, who, FAILED_FIELDS, FAILED)
    html = render_template(
        "console/failed.html",
        page=page,
        admin=reads_every_tenant(who),
        can_redrive=who.allows("submit") and _scope_problem(page.tenant_text, who) is None,
        scope_problem=_scope_problem(page.tenant_text, who),
    )
    return html, page.status


def _scope_problem(tenant_text: str, who: Principal) -> str | None:
    # A re-drive resource belongs to one tenant or to all (the API's all_tenants); one made
    # for a third tenant would be invisible to the admin who made it.
    if tenant_text and tenant_text not in {"*", who.tenant}:
        return "a re-drive by filter works on your own tenant or on every tenant (tenant *)"
    return None


def _number(text: str, name: str, integer: bool) -> int | float | None:
    if not text.strip():
        return None
    try:
        return int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise BadRequestError(f"{name}: must be {kind}", parameter=name) from None


def redrive_body(
    form: Mapping[str, Sequence[str]], who: Principal, dry_run: bool
) -> dict[str, Any]:
    """The `POST /api/redrives` body of the failed view's filter, rate and limit."""
    problem = _scope_problem(next(iter(form.get("tenant", [])), "").strip(), who)
    if problem is not None:
        raise BadRequestError(f"tenant: {problem}", parameter="tenant")
    query = parse_list(form, who, FAILED_FIELDS, FAILED)
    where = query.search.where
    raw: dict[str, Any] = {}
    if where.type is not None:
        raw["types"] = [where.type]
    if where.error_types:
        raw["error_types"] = list(where.error_types)
    if where.failed_since is not None:
        raw["failed_since"] = where.failed_since.isoformat()
    if where.failed_until is not None:
        raw["failed_until"] = where.failed_until.isoformat()
    if where.payload:
        raw["payload"] = where.payload
    body: dict[str, Any] = {
        "filter": raw,
        "dry_run": dry_run,
        "all_tenants": query.tenant is None and who.tenant is not None,
    }
    rate = _number(next(iter(form.get("rate", [])), ""), "rate", integer=False)
    limit = _number(next(iter(form.get("limit", [])), ""), "limit", integer=True)
    if rate is not None:
        body["rate"] = rate
    if limit is not None:
        body["limit"] = limit
    return body


def _kept(form: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """The fields a confirmation page carries on to the re-drive it confirms."""
    kept = {name: values[0] for name, values in form_values(form, FAILED_FIELDS).items()}
    for name in ("tenant", "rate", "limit"):
        value = next(iter(form.get(name, [])), "").strip()
        if value:
            kept[name] = value
    return kept


@bp.post("/redrives/preview")
@signed_in("submit")
def preview() -> tuple[str, int]:
    """A dry run of the re-drive (the API's `dry_run`, recorded like one): how many FAILED
    tasks the filter matches, and the form that starts it for real."""
    who = principal()
    form = request.form.to_dict(flat=False)
    try:
        dry = redrives_api.start(redrive_body(form, who, dry_run=True), who)
    except ApiError as err:
        html = render_template("console/confirm_redrive.html", error=err.detail, kept=_kept(form))
        return html, err.status
    html = render_template(
        "console/confirm_redrive.html",
        dry=dry,
        filter_json=pretty(dry.filter),
        kept=_kept(form),
        error=None,
    )
    return html, 200


@bp.post("/redrives")
@signed_in("submit")
def create() -> Response | tuple[str, int]:
    """Start the re-drive the confirmation page showed, then follow its progress."""
    who = principal()
    form = request.form.to_dict(flat=False)
    try:
        created = redrives_api.start(redrive_body(form, who, dry_run=False), who)
    except ApiError as err:
        html = render_template("console/confirm_redrive.html", error=err.detail, kept=_kept(form))
        return html, err.status
    return redirect(url_for("console.redrive", redrive_id=created.id))


@bp.get("/redrives/<uuid:redrive_id>")
@signed_in()
def redrive(redrive_id: uuid.UUID) -> str:
    """A re-drive's counts and state; the page reloads itself until it has finished."""
    found = visible_redrive(redrive_id)
    active = found.state in redrives.ACTIVE
    return render_template(
        "console/redrive.html",
        redrive=found,
        view=found.view(),
        filter_json=pretty(found.filter),
        refresh_s=REFRESH_S if active else None,
    )


@bp.get("/redrives")
@signed_in()
def recent() -> str:
    """The latest re-drives the key may see, newest first."""
    who = principal()
    tenant = None if reads_every_tenant(who) else who.tenant
    with services().engines.primary.connect() as conn:
        found = redrives.recent(conn, tenant, limit=RECENT)
    return render_template("console/redrives.html", redrives=[r.view() for r in found])
