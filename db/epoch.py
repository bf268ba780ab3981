"""The broker epoch: how the reconciler tells a lost Celery queue from a long one.

A Celery message that reached the broker stays there until a worker takes it: Redis keeps it in
the queue, in a worker's unacknowledged set, or (AOF on) across a restart. What loses messages
is the broker losing its data: a FLUSHDB, a restart without persistence, a failover to a replica
that never had them. So the reconciler does not guess from a task's age, which re-published
every task behind a long queue and made the queue feed itself; it keeps a random value, the
epoch, in the broker's own database (celery_tasks/epoch.py), which disappears with the data.
Each run compares what it reads there with what it recorded here; a different value means the
broker lost its data at some moment since the last run, and every message published before now
may be gone. That moment is recorded as `lost_before`, and the reconciler re-publishes every
task that was waiting on the broker and was last published before it, in batches, run after run,
until none is left.
"""

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from db.models import reconciler_state_table

s = reconciler_state_table

EPOCH_KEY = "broker_epoch"
LOST_BEFORE_KEY = "broker_lost_before"


def _get(conn: sa.Connection, key: str, *, lock: bool = False) -> str | None:
    stmt = sa.select(s.c.value).where(s.c.key == key)
    if lock:
        stmt = stmt.with_for_update()
    return conn.execute(stmt).scalar_one_or_none()


def _put(conn: sa.Connection, key: str, value: str) -> None:
    stmt = pg_insert(s).values(key=key, value=value, updated_at=sa.func.now())
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[s.c.key], set_={"value": value, "updated_at": sa.func.now()}
        )
    )


def observe_epoch(conn: sa.Connection, epoch: str) -> bool:
    """Record the epoch the broker holds now; True when it changed since the last run.

    The first epoch ever seen is only recorded: there is nothing it could have replaced.
    """
    known = _get(conn, EPOCH_KEY, lock=True)
    if known == epoch:
        return False
    _put(conn, EPOCH_KEY, epoch)
    if known is None:
        return False
    when = conn.execute(sa.select(sa.func.now())).scalar_one()
    _put(conn, LOST_BEFORE_KEY, when.isoformat())
    return True


def lost_before(conn: sa.Connection) -> datetime | None:
    """Messages published before this time may have been lost; None when none were."""
    value = _get(conn, LOST_BEFORE_KEY)
    return datetime.fromisoformat(value) if value else None


def recovered(conn: sa.Connection) -> None:
    """Every task published before the loss has been published again."""
    conn.execute(sa.delete(s).where(s.c.key == LOST_BEFORE_KEY))
