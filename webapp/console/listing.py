"""One page of a task list (all tasks, or the failed ones), as the templates show it."""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from db.search import encode_cursor, search_tasks
from webapp.auth import Principal
from webapp.console.filters import (
    LIST_FIELDS,
    ListQuery,
    form_values,
    link_args,
    next_args,
    parse_list,
    previous_args,
)
from webapp.errors import ApiError
from webapp.services import services

PREVIEW_CHARS = 120


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """A short one-line JSON rendering of a payload or result (the template escapes it)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pretty(value: Any) -> str:
    """Indented JSON of a payload or result (the template escapes it)."""
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, default=str)


@dataclass
class ListPage:
    """What a list template shows: the rows, the links around them, or the reason for none."""

    form: dict[str, list[str]]
    tenant_text: str
    query: ListQuery | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    next_args: dict[str, Any] | None = None
    previous_args: dict[str, Any] | None = None
    first_args: dict[str, Any] | None = None
    error: str | None = None
    status: int = 200

    def value(self, name: str) -> str:
        """The form's value of a single-valued field."""
        return (self.form.get(name) or [""])[0]


def load_page(
    args: Mapping[str, Sequence[str]],
    principal: Principal,
    fields: Sequence[str] = LIST_FIELDS,
    statuses: Sequence[str] = (),
) -> ListPage:
    """Parse the filters and read one page with the API's search; a bad filter gives a page
    with the API's message and status instead of rows."""
    tenant_text = next((v.strip() for v in args.get("tenant", []) if v.strip()), "")
    page = ListPage(form_values(args, fields), tenant_text)
    try:
        query = parse_list(args, principal, fields, statuses)
    except ApiError as err:
        page.error, page.status = err.detail, err.status
        return page
    found = services().engines.read(
        lambda conn: search_tasks(conn, query.search.where, query.search.limit, query.search.after)
    )
    page.query = query
    page.rows = [{**row, "payload_preview": preview(row["payload"])} for row in found.rows]
    if found.next_cursor is not None:
        page.next_args = next_args(query, encode_cursor(found.next_cursor))
    page.previous_args = previous_args(query)
    if query.cursor:
        page.first_args = link_args(query)
    return page
