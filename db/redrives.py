"""Re-drives as resources: created by the API, run in chunks by a job on the maintenance lane,
resumable after any crash, cancellable, each matched task re-driven exactly once.

When a re-drive starts, the FAILED tasks its filter matches (latest failure, db/failed.py) are
listed in `redrive_items`, in the order of their failure; then chunk after chunk of pending
items is re-driven, each chunk one transaction that resets its tasks (FAILED -> PENDING with
their `tasks` record, db/redrive.py), marks the items and adds to the counts. A crash loses at
most an uncommitted chunk, which the next run takes again; a task no longer FAILED when its
turn comes (re-driven meanwhile by someone else) is skipped, never re-driven twice. The
chunks themselves are db/redrive_runs.py.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from db.failed import FailedFilter, failed_query
from db.models import redrives_table

r = redrives_table

ACTIVE = ("PENDING", "RUNNING")


@dataclass(frozen=True)
class Redrive:
    """A re-drive's settings, state and counts."""

    id: uuid.UUID
    tenant: str | None
    filter: dict[str, Any]
    rate: float | None
    limit: int | None
    dry_run: bool
    state: str
    matched: int
    redriven: int
    skipped: int
    failed: int
    cancel_requested: bool
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    def view(self) -> dict[str, Any]:
        """The re-drive as plain JSON values (the API's representation)."""
        return {
            "id": str(self.id),
            "state": self.state,
            "dry_run": self.dry_run,
            "matched": self.matched,
            "redriven": self.redriven,
            "skipped": self.skipped,
            "failed": self.failed,
            "pending": max(self.matched - self.redriven - self.skipped - self.failed, 0),
            "filter": self.filter,
            "rate": self.rate,
            "limit": self.limit,
            "tenant": self.tenant,
            "cancel_requested": self.cancel_requested,
            "error": self.error,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "links": {"self": f"/api/redrives/{self.id}"},
        }


def redrive_from_row(row: Any) -> Redrive:
    return Redrive(
        id=row.id,
        tenant=row.tenant,
        filter=row.filter,
        rate=row.rate,
        limit=row.item_limit,
        dry_run=row.dry_run,
        state=row.state,
        matched=row.matched,
        redriven=row.redriven,
        skipped=row.skipped,
        failed=row.failed,
        cancel_requested=row.cancel_requested,
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
    )


def create(
    conn: sa.Connection,
    *,
    where: FailedFilter,
    filter_view: dict[str, Any],
    rate: float | None,
    limit: int | None,
    dry_run: bool,
    created_by: str | None,
) -> Redrive:
    """Record a re-drive. A dry run counts what it would match and is done at once."""
    matched = 0
    if dry_run:
        query = failed_query(where)
        if limit is not None:
            query = query.limit(limit)
        matched = int(
            conn.execute(sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
        )
    row = conn.execute(
        sa.insert(r)
        .values(
            id=uuid.uuid4(),
            tenant=where.tenant,
            filter=filter_view,
            rate=rate,
            item_limit=limit,
            dry_run=dry_run,
            state="COMPLETED" if dry_run else "PENDING",
            matched=matched,
            redriven=0,
            skipped=0,
            failed=0,
            cancel_requested=False,
            created_by=created_by,
            created_at=sa.func.now(),
            updated_at=sa.func.now(),
            finished_at=sa.func.now() if dry_run else None,
        )
        .returning(r)
    ).one()
    return redrive_from_row(row)


def get(conn: sa.Connection, redrive_id: uuid.UUID) -> Redrive | None:
    """A re-drive by id, or None."""
    row = conn.execute(sa.select(r).where(r.c.id == redrive_id)).first()
    return redrive_from_row(row) if row else None


def recent(conn: sa.Connection, tenant: str | None, limit: int) -> list[Redrive]:
    """The latest re-drives of `tenant` (None: of every tenant), newest first."""
    query = sa.select(r).order_by(r.c.created_at.desc()).limit(limit)
    if tenant is not None:
        query = query.where(r.c.tenant == tenant)
    return [redrive_from_row(row) for row in conn.execute(query)]


def request_cancel(conn: sa.Connection, redrive_id: uuid.UUID) -> Redrive | None:
    """Ask a running re-drive to stop after its current chunk (a pending one stops at once)."""
    conn.execute(
        sa.update(r)
        .where(r.c.id == redrive_id, r.c.state == "PENDING")
        .values(
            state="CANCELLED",
            cancel_requested=True,
            finished_at=sa.func.now(),
            updated_at=sa.func.now(),
        )
    )
    conn.execute(
        sa.update(r)
        .where(r.c.id == redrive_id, r.c.state == "RUNNING")
        .values(cancel_requested=True, updated_at=sa.func.now())
    )
    return get(conn, redrive_id)


def to_run(conn: sa.Connection, stale_after_s: float) -> list[uuid.UUID]:
    """Re-drives waiting to start, or running without progress for `stale_after_s` (their job
    was lost with its worker): the maintenance lane runs them (again)."""
    quiet = sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, stale_after_s)
    rows = conn.execute(
        sa.select(r.c.id).where(
            sa.or_(r.c.state == "PENDING", sa.and_(r.c.state == "RUNNING", r.c.updated_at < quiet))
        )
    )
    return [row.id for row in rows]


def fail(conn: sa.Connection, redrive_id: uuid.UUID, error: str) -> None:
    """Record that a re-drive cannot go on (its filter no longer reads, say)."""
    conn.execute(
        sa.update(r)
        .where(r.c.id == redrive_id, r.c.state.in_(ACTIVE))
        .values(
            state="FAILED", error=error[:2000], finished_at=sa.func.now(), updated_at=sa.func.now()
        )
    )
