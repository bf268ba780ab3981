"""The console's list filters: form fields turned into the API's search parameters, parsed by
the API's own `parse_search`, so a bad value gets the API's message and the same query runs.

The console adds three things the API's query string does not have: payload pairs written
`key=value` (a JSON object works too), a tenant filter for admin keys, and `back`, the cursors
of the pages before this one, which give the pages a "previous" link on the existing
forward-only cursors.
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from db.search import decode_cursor
from webapp.auth import Principal
from webapp.console.access import reads_every_tenant
from webapp.errors import BadRequestError, ForbiddenError
from webapp.search_params import MAX_TEXT_CHARS, SearchRequest, parse_search

ALL_TENANTS = "*"
# Pages a "previous" link can walk back; older cursors are dropped from the trail (the
# "first page" link still gets there).
MAX_TRAIL = 20
# `limit` has no form field; a link that sets it (or the pages after it) keeps it.
LIST_FIELDS = ("status", "type", "error_type", "payload", "limit")
FAILED_FIELDS = ("type", "error_type", "failed_since", "failed_until", "payload", "limit")


@dataclass(frozen=True)
class ListQuery:
    """A parsed list page: the search, the form's values, the tenant scope and the trail."""

    search: SearchRequest
    form: dict[str, list[str]]
    tenant: str | None
    tenant_text: str
    trail: tuple[str, ...]
    cursor: str


def payload_filter(text: str) -> str:
    """`key=value` pairs separated by spaces (a value that reads as JSON is compared as JSON,
    else as a string), or a JSON object, as the JSON object text the API's `payload` takes."""
    if text.startswith("{"):
        return text
    pairs: dict[str, Any] = {}
    for pair in text.split():
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise BadRequestError(
                f"payload: expected key=value pairs separated by spaces, or a JSON object; "
                f"got {pair[:80]!r}",
                parameter="payload",
            )
        try:
            pairs[key] = json.loads(raw)
        except ValueError:
            pairs[key] = raw
    return json.dumps(pairs, ensure_ascii=False)


def tenant_scope(principal: Principal, text: str) -> str | None:
    """The tenant a list is confined to: the key's own unless an admin picked another, or
    every tenant (`*`, None)."""
    if not text:
        return principal.tenant
    if not reads_every_tenant(principal):
        raise ForbiddenError("tenant: filtering by tenant needs the admin scope")
    if text == ALL_TENANTS:
        return None
    if len(text) > MAX_TEXT_CHARS or "\x00" in text:
        raise BadRequestError(
            f"tenant: must be 1 to {MAX_TEXT_CHARS} characters", parameter="tenant"
        )
    return text


def _trail(values: Iterable[str]) -> tuple[str, ...]:
    trail = tuple(values)[-MAX_TRAIL:]
    for token in trail:
        if token and decode_cursor(token) is None:
            raise BadRequestError("back: is not a cursor this console made", parameter="back")
    return trail


def form_values(args: Mapping[str, Sequence[str]], fields: Sequence[str]) -> dict[str, list[str]]:
    """The non-empty values of `fields`, as the form sent them (spaces trimmed)."""
    form: dict[str, list[str]] = {}
    for name in fields:
        values = [v.strip() for v in args.get(name, []) if v.strip()]
        if values:
            form[name] = values
    return form


def parse_list(
    args: Mapping[str, Sequence[str]],
    principal: Principal,
    fields: Sequence[str] = LIST_FIELDS,
    statuses: Sequence[str] = (),
) -> ListQuery:
    """Parse a list page's query string; raises the API's BadRequestError naming a parameter."""
    form = form_values(args, fields)
    search_args = {name: list(values) for name, values in form.items()}
    if "payload" in search_args:
        search_args["payload"] = [payload_filter(v) for v in search_args["payload"]]
    if statuses:
        search_args["status"] = list(statuses)
    cursor = next((v for v in args.get("cursor", []) if v), "")
    if cursor:
        search_args["cursor"] = [cursor]
    tenant_text = next((v.strip() for v in args.get("tenant", []) if v.strip()), "")
    tenant = tenant_scope(principal, tenant_text)
    search = parse_search(search_args, tenant=tenant)
    return ListQuery(search, form, tenant, tenant_text, _trail(args.get("back", [])), cursor)


def link_args(query: ListQuery) -> dict[str, Any]:
    """The query string of the first page of the same list (the form's values)."""
    found: dict[str, Any] = dict(query.form)
    if query.tenant_text:
        found["tenant"] = query.tenant_text
    return found


def next_args(query: ListQuery, next_cursor: str) -> dict[str, Any]:
    """The query string of the next page: its cursor, and this page's in the trail."""
    return {**link_args(query), "cursor": next_cursor, "back": [*query.trail, query.cursor]}


def previous_args(query: ListQuery) -> dict[str, Any] | None:
    """The query string of the previous page, None on the first one (or past the trail)."""
    if not query.cursor or not query.trail:
        return None
    found = link_args(query)
    if query.trail[-1]:
        found["cursor"] = query.trail[-1]
    if query.trail[:-1]:
        found["back"] = list(query.trail[:-1])
    return found
