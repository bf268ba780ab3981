"""Waiting tasks whose message is nowhere: published again, on evidence rather than on age.

kombu's Redis transport takes a message off its queue with BRPOP and only then, in the worker,
records it as unacknowledged. A worker node killed in between (the reply still in its socket,
or read and not yet recorded) takes the message with it: it is in no queue, not in `unacked`,
so neither Redis's visibility timeout nor the orphan rule (celery_tasks/orphans.py) brings it
back, and the task would wait for the reconciler's last-resort rule (an hour).

A waiting task (PENDING, or RETRYING and due) that has had no news for `after_s` is looked for
where it can be, in the order a message moves, so that one moving meanwhile is still seen:

1. in Kafka: the bridges' group has not committed past every record of the task's partition
   (its record may still be on its way to Celery);
2. in its Celery queue (every priority list of it);
3. held by a worker (`unacked`), for a later attempt or about to be claimed.

The broker is looked at twice, a second apart, so a message a live worker is taking at that
moment (in neither place for a few milliseconds) is seen the second time. Found nowhere, the
task is published again (db/reconcile.py `redispatch_vanished`, which re-checks in the same
transaction that it still waits: one claimed meanwhile is left), and a task that vanishes
again waits twice as long before the next time.

Looking costs a read of the queue and of `unacked`, so it is done only while both hold at most
`scan_limit` messages; behind a deeper queue the task is left to the last-resort rule. No
candidate, no look: the first query runs on the partial index of active tasks.
"""

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from celery import Celery
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from celery_tasks import metrics
from celery_tasks.messages import execute_task_id, queued_task_id
from celery_tasks.names import TASKS_QUEUE
from db.reconcile import redispatch_vanished, vanishing
from db.topics import TASKS_TOPIC, key_partition, partition_lags

log = logging.getLogger(__name__)

KAFKA_TIMEOUT_S = 5.0
# Between the two looks at the broker (see _in_broker).
SETTLE_S = 1.0


def _past_kafka(
    admin: AdminClient, group: str, topic: str, candidates: list[uuid.UUID]
) -> list[uuid.UUID] | None:
    """The candidates whose partition the bridges have fully handed to Celery; None when Kafka
    cannot say."""
    try:
        lags = partition_lags(admin, group, topic, timeout_s=KAFKA_TIMEOUT_S)
    except KafkaException as err:
        log.warning("vanished tasks not looked for: Kafka did not answer (%s)", err)
        return None
    count = len(lags)
    return [c for c in candidates if lags.get(key_partition(str(c), count), 1) == 0]


def _look(channel: Any, scan_limit: int) -> set[uuid.UUID] | None:
    """One look at the queue's lists, then at `unacked`; None when either holds more than
    `scan_limit` messages."""
    client = channel.client
    lists = list(dict.fromkeys(channel._q_for_pri(TASKS_QUEUE, p) for p in channel.priority_steps))
    pipe = client.pipeline(transaction=False)
    for key in lists:
        pipe.llen(key)
    if sum(pipe.execute()) > scan_limit:
        return None
    found: set[uuid.UUID] = set()
    # The queue before `unacked`: a message moves from the first to the second.
    for key in lists:
        found.update(filter(None, map(queued_task_id, client.lrange(key, 0, -1))))
    if client.hlen(channel.unacked_key) > scan_limit:
        return None
    found.update(filter(None, map(execute_task_id, client.hvals(channel.unacked_key))))
    return found


def _in_broker(
    app: Celery, scan_limit: int, settle_s: float, pause: Callable[[float], None]
) -> set[uuid.UUID] | None:
    """Task ids with a message in the tasks queue or held by a worker, seen in either of two
    looks `settle_s` apart; None when there are more than `scan_limit` messages to read."""
    with app.connection_for_write() as connection:
        channel: Any = connection.default_channel
        first = _look(channel, scan_limit)
        if first is None:
            return None
        # A message a live worker has just taken off its queue is in neither place until the
        # worker records it in `unacked`, a matter of milliseconds, and one restored from
        # `unacked` meanwhile moved the other way: the second look finds either.
        pause(settle_s)
        second = _look(channel, scan_limit)
    return None if second is None else first | second


def redispatch_vanished_tasks(
    app: Celery,
    engine: sa.Engine,
    admin: AdminClient,
    *,
    bridge_group: str,
    after_s: float,
    scan_limit: int,
    batch: int,
    topic: str = TASKS_TOPIC,
    settle_s: float = SETTLE_S,
    pause: Callable[[float], None] = time.sleep,
) -> int:
    """Publish again the waiting tasks found nowhere; returns how many."""
    with engine.connect() as conn:
        candidates = vanishing(conn, after_s, batch)
    if not candidates:
        return 0
    handed_over = _past_kafka(admin, bridge_group, topic, candidates)
    if not handed_over:
        return 0
    in_broker = _in_broker(app, scan_limit, settle_s, pause)
    if in_broker is None:
        # Every run while the queue is deep: the last-resort rule covers these tasks meanwhile.
        log.debug("vanished tasks not looked for: more than %d messages to read", scan_limit)
        return 0
    gone = [c for c in handed_over if c not in in_broker]
    if not gone:
        return 0
    with engine.begin() as conn:
        redispatched = redispatch_vanished(conn, gone, after_s)
    metrics.VANISHED_REDISPATCHED.inc(redispatched)
    if redispatched:
        log.warning(
            "%d waiting task(s) had no message in Kafka, the queue or a worker; published again",
            redispatched,
        )
    return redispatched
