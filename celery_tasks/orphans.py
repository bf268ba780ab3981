"""Messages a dead worker node had taken from Redis and not started: put back on their queue.

kombu's Redis transport moves a message it hands to a worker into its `unacked` hash (with the
time in `unacked_index`) until the worker acknowledges it; with `task_acks_late` that is after
the task ran. When a whole node dies, the attempts it was running come back through their
leases (celery_tasks/lease.py), but the messages it had received and not yet claimed (up to its
prefetch) stay there until the visibility timeout (an hour) has passed. Their tasks are
PENDING, or RETRYING and due, so no lease names them.

A live worker claims what it receives at once: with `worker_prefetch_multiplier = 1` and late
acknowledgement a node holds no more messages than it runs, and a countdown message (a retry
waiting for its backoff) is held only until it is due. So a message unacknowledged for
`after_s` whose task is still waiting to be claimed (PENDING, or RETRYING and due for that
long) belongs to a worker that is gone, and goes back to its queue. Were the holder only slow,
the copy is a duplicate delivery, which the database claim turns away and counts.
"""

import logging
import time
import uuid
from typing import Any

import sqlalchemy as sa
from celery import Celery

from celery_tasks import metrics
from celery_tasks.messages import execute_task_id
from db.reconcile import unclaimed

log = logging.getLogger(__name__)


def restore_orphans(app: Celery, engine: sa.Engine, *, after_s: float, limit: int) -> int:
    """Put back the execute messages held longer than `after_s` whose tasks nobody claimed;
    returns how many were restored. At most `limit` entries are looked at per call."""
    with app.connection_for_write() as connection:
        channel: Any = connection.default_channel
        client = channel.client
        tags = [
            t.decode() if isinstance(t, bytes) else str(t)
            for t in client.zrangebyscore(
                channel.unacked_index_key, "-inf", time.time() - after_s, start=0, num=limit
            )
        ]
        if not tags:
            return 0
        held: dict[uuid.UUID, str] = {}
        for tag, raw in zip(tags, client.hmget(channel.unacked_key, tags), strict=True):
            task_id = execute_task_id(raw) if raw is not None else None
            if task_id is not None:
                held[task_id] = tag
        if not held:
            return 0
        with engine.connect() as conn:
            waiting = unclaimed(conn, list(held), after_s)
        for task_id in waiting:
            # Atomic in kombu: a message its worker acknowledges meanwhile is not restored.
            channel.qos.restore_by_tag(held[task_id])
            metrics.ORPHANS_RESTORED.inc()
            log.warning(
                "task %s: its message was held %.0fs by a worker that never claimed it; "
                "restored to its queue",
                task_id,
                after_s,
            )
        return len(waiting)
