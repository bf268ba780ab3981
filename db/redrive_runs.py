"""Running a re-drive (db/redrives.py): its first chunk lists the FAILED tasks its filter
matches in `redrive_items`, every chunk re-drives the next pending ones in one transaction.
"""

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from db.failed import FailedFilter, failed_query
from db.models import redrive_items_table, redrives_table
from db.redrive import redrive_task
from db.redrives import ACTIVE, Redrive, get, redrive_from_row

r = redrives_table
i = redrive_items_table


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
        return redrive_from_row(row) if row else None
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
