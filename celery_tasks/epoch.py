"""The broker epoch's value in the broker itself (db/epoch.py says what it is for)."""

import uuid

from redis import Redis
from redis.exceptions import RedisError

# Not under the "tasks" prefix, where kombu keeps the queue lists of the tasks queue.
EPOCH_KEY = "_taskservice.broker_epoch"


def broker_epoch(client: Redis) -> str | None:
    """The epoch the broker holds, created when missing; None when the broker cannot be read.

    The key lives in the broker's database beside the queues, so whatever removes the queues
    (FLUSHDB, a restart without its data, a failover to a replica that lacks them) removes it
    too, and the next reader creates a new value. SET NX keeps two readers to one value.
    """
    try:
        client.set(EPOCH_KEY, uuid.uuid4().hex, nx=True)
        value = client.get(EPOCH_KEY)
    except RedisError:
        return None
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
