"""Task search: filters, newest first, keyset pagination on (created_at, id)."""

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from db.models import tasks_table


@dataclass(frozen=True)
class Cursor:
    """The position after the last row of a page: its sort key."""

    created_at: datetime
    id: uuid.UUID


@dataclass(frozen=True)
class TaskFilter:
    """What to search for; every field is optional and the fields combine with AND."""

    statuses: tuple[str, ...] = ()
    type: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    payload: dict[str, Any] | None = None
    # Owner of the API key; None means no tenant filter (issue 5 wires the caller's tenant).
    tenant: str | None = None
    # The dead-letter filters: the latest failure's error type and time (finished_at).
    error_types: tuple[str, ...] = ()
    failed_since: datetime | None = None
    failed_until: datetime | None = None


@dataclass(frozen=True)
class Page:
    """One page of tasks, newest first, and the cursor of the next page (None on the last)."""

    rows: list[dict[str, Any]]
    next_cursor: Cursor | None


def encode_cursor(cursor: Cursor) -> str:
    """An opaque, URL-safe token for `cursor`."""
    raw = f"{cursor.created_at.isoformat()}|{cursor.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor | None:
    """The cursor a token names; None when the token was not made by `encode_cursor`."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        stamp, _, ident = raw.partition("|")
        created_at = datetime.fromisoformat(stamp)
        task_id = uuid.UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if created_at.tzinfo is None:
        return None
    return Cursor(created_at, task_id)


def search_query(where: TaskFilter, limit: int, after: Cursor | None = None) -> sa.Select[Any]:
    """The SELECT of one page (`limit` + 1 rows, the extra one says whether a next page exists).

    Every value is a bound parameter. The ORDER BY matches `tasks_created_idx`, and the keyset
    condition is a row comparison on the same columns, so each page is an index range scan
    however deep it is, and rows inserted meanwhile (always newer) never shift later pages.
    """
    t = tasks_table
    query = sa.select(t).order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit + 1)
    if where.statuses:
        query = query.where(t.c.status.in_(where.statuses))
    if where.type is not None:
        query = query.where(t.c.type == where.type)
    if where.created_after is not None:
        query = query.where(t.c.created_at >= where.created_after)
    if where.created_before is not None:
        query = query.where(t.c.created_at < where.created_before)
    if where.payload is not None:
        # `@>` with a jsonb operand is what the jsonb_path_ops GIN index serves.
        query = query.where(t.c.payload.op("@>")(sa.cast(where.payload, JSONB)))
    if where.tenant is not None:
        query = query.where(t.c.tenant == where.tenant)
    if where.error_types:
        query = query.where(t.c.error_type.in_(where.error_types))
    if where.failed_since is not None:
        query = query.where(t.c.finished_at >= where.failed_since)
    if where.failed_until is not None:
        query = query.where(t.c.finished_at < where.failed_until)
    if after is not None:
        query = query.where(
            sa.tuple_(t.c.created_at, t.c.id) < sa.tuple_(after.created_at, after.id)
        )
    return query


def search_tasks(
    conn: sa.Connection, where: TaskFilter, limit: int, after: Cursor | None = None
) -> Page:
    """One page of the tasks matching `where`, newest first, after `after`."""
    rows = [dict(r) for r in conn.execute(search_query(where, limit, after)).mappings()]
    if len(rows) <= limit:
        return Page(rows, None)
    last = rows[limit - 1]
    return Page(rows[:limit], Cursor(last["created_at"], last["id"]))
