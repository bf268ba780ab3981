"""Re-drives as resources: created by the API, run in chunks by a job on the maintenance lane,
resumable after any crash, cancellable, each matched task re-driven exactly once.

When a re-drive starts, the FAILED tasks its filter matches (latest failure, db/failed.py) are
listed in `redrive_items`, in the order of their failure; then chunk after chunk of pending
items is re-driven, each chunk one transaction that resets its tasks (FAILED -> PENDING with
their `tasks` record, db/redrive.py), marks the items and adds to the counts. A crash loses at
most an uncommitted chunk, which the next run takes again; a task no longer FAILED when its
turn comes (re-driven meanwhile by someone else) is skipped, never re-driven twice.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from db.failed import FailedFilter, failed_query
from db.models import redrive_items_table, redrives_table
from db.redrive import redrive_task

r = redrives_table
i = redrive_items_table

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


def _redrive(row: Any) -> Redrive:
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
    return _redrive(row)


def get(conn: sa.Connection, redrive_id: uuid.UUID) -> Redrive | None:
    """A re-drive by id, or None."""
    row = conn.execute(sa.select(r).where(r.c.id == redrive_id)).first()
    return _redrive(row) if row else None


def recent(conn: sa.Connection, tenant: str | None, limit: int) -> list[Redrive]:
    """The latest re-drives of `tenant` (None: of every tenant), newest first."""
    query = sa.select(r).order_by(r.c.created_at.desc()).limit(limit)
    if tenant is not None:
        query = query.where(r.c.tenant == tenant)
    return [_redrive(row) for row in conn.execute(query)]


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


def _filter_of(row: Any) -> FailedFilter:
    f = row.filter
    return FailedFilter(
        types=tuple(f.get("types") or ()),
        error_types=tuple(f.get("error_types") or ()),
        since=datetime.fromisoformat(f["failed_since"]) if f.get("failed_since") else None,
        until=datetime.fromisoformat(f["failed_until"]) if f.get("failed_until") else None,
        task_ids=tuple(uuid.UUID(t) for t in f.get("task_ids") or ()),
        payload=f.get("payload") or {},
        tenant=row.tenant,
    )


def _start(conn: sa.Connection, row: Any) -> None:
    query = failed_query(_filter_of(row))
    if row.item_limit is not None:
        query = query.limit(row.item_limit)
    matched = query.subquery("matched")
    numbered = sa.select(
        sa.literal(row.id),
        sa.func.row_number().over(order_by=(matched.c.finished_at, matched.c.id)),
        matched.c.id,
        matched.c.created_at,
    )
    conn.execute(
        sa.insert(i).from_select(
            [i.c.redrive_id, i.c.seq, i.c.task_id, i.c.task_created_at],
            numbered,
            include_defaults=False,
        )
    )
    count = conn.execute(sa.select(sa.func.count()).where(i.c.redrive_id == row.id)).scalar_one()
    conn.execute(
        sa.update(r)
        .where(r.c.id == row.id)
        .values(state="RUNNING", matched=count, updated_at=sa.func.now())
    )


def run_chunk(conn: sa.Connection, redrive_id: uuid.UUID, size: int) -> Redrive | None:
    """Re-drive up to `size` pending items in the caller's transaction; returns the state after.

    The re-drive's row is locked first, so two runs of one re-drive (a duplicate message, a
    resumed job beside a slow one) take turns instead of racing.
    """
    row = conn.execute(sa.select(r).where(r.c.id == redrive_id).with_for_update()).first()
    if row is None or row.state not in ACTIVE:
        return _redrive(row) if row else None
    if row.state == "PENDING":
        _start(conn, row)
    if row.cancel_requested:
        conn.execute(
            sa.update(r)
            .where(r.c.id == redrive_id)
            .values(state="CANCELLED", finished_at=sa.func.now(), updated_at=sa.func.now())
        )
        return get(conn, redrive_id)
    items = conn.execute(
        sa.select(i.c.seq, i.c.task_id)
        .where(i.c.redrive_id == redrive_id, i.c.state == "pending")
        .order_by(i.c.seq)
        .limit(size)
    ).all()
    done = {"redriven": 0, "skipped": 0, "failed": 0}
    for item in items:
        outcome = _redrive_item(conn, item.task_id)
        done[outcome] += 1
        conn.execute(
            sa.update(i)
            .where(i.c.redrive_id == redrive_id, i.c.seq == item.seq)
            .values(state=outcome)
        )
    # Done when nothing is left, not only when a chunk came up short: the last chunk of a
    # re-drive at a rate should not wait a turn to say it finished.
    finished = (
        len(items) < size
        or not conn.execute(
            sa.select(
                sa.exists().where(
                    i.c.redrive_id == redrive_id, i.c.state == "pending", i.c.seq > items[-1].seq
                )
            )
        ).scalar_one()
    )
    conn.execute(
        sa.update(r)
        .where(r.c.id == redrive_id)
        .values(
            redriven=r.c.redriven + done["redriven"],
            skipped=r.c.skipped + done["skipped"],
            failed=r.c.failed + done["failed"],
            updated_at=sa.func.now(),
            state="COMPLETED" if finished else "RUNNING",
            finished_at=sa.func.now() if finished else None,
        )
    )
    return get(conn, redrive_id)


def _redrive_item(conn: sa.Connection, task_id: uuid.UUID) -> str:
    """Re-drive one item under a savepoint: a task whose row the database refuses to change is
    counted as failed and the chunk goes on; a lost connection still ends the chunk."""
    try:
        with conn.begin_nested():
            return "redriven" if redrive_task(conn, task_id) is not None else "skipped"
    except (sa.exc.DataError, sa.exc.IntegrityError):
        return "failed"


def fail(conn: sa.Connection, redrive_id: uuid.UUID, error: str) -> None:
    """Record that a re-drive cannot go on (its filter no longer reads, say)."""
    conn.execute(
        sa.update(r)
        .where(r.c.id == redrive_id, r.c.state.in_(ACTIVE))
        .values(
            state="FAILED", error=error[:2000], finished_at=sa.func.now(), updated_at=sa.func.now()
        )
    )
