"""Outbox queries used by the relay: claim a batch, delete what Kafka acknowledged."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from db.models import outbox_table

o = outbox_table


@dataclass(frozen=True)
class OutboxRecord:
    """One Kafka record waiting in the outbox."""

    id: int
    topic: str
    key: str
    value: dict[str, Any]
    headers: dict[str, str]


def claim_batch(conn: sa.Connection, limit: int) -> list[OutboxRecord]:
    """Lock up to `limit` of the oldest rows; rows another relay holds are skipped, not awaited."""
    stmt = (
        sa.select(o.c.id, o.c.topic, o.c.key, o.c.value, o.c.headers)
        .order_by(o.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [OutboxRecord(r.id, r.topic, r.key, r.value, r.headers) for r in conn.execute(stmt)]


def delete_published(conn: sa.Connection, ids: Sequence[int]) -> int:
    """Delete the rows Kafka acknowledged; returns how many were deleted."""
    if not ids:
        return 0
    return conn.execute(sa.delete(o).where(o.c.id.in_(list(ids)))).rowcount


def backlog(conn: sa.Connection) -> tuple[int, float]:
    """Rows waiting and the age in seconds of the oldest one (0 when empty)."""
    row = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(
                sa.func.extract("epoch", sa.func.now() - sa.func.min(o.c.created_at)), 0
            ),
        )
    ).one()
    return int(row[0]), float(row[1])
