"""An attempt's Redis lock: taken before the claim, released unless the task completed."""

import logging
import uuid
from typing import Any

import redis.exceptions
from redis import Redis

from celery_tasks.ownership import break_lock_of_dead_owner

log = logging.getLogger(__name__)


def release(lock: Any, task_id: uuid.UUID) -> None:
    """Release an attempt's Redis lock, if it is still this delivery's."""
    try:
        lock.release()
    except redis.exceptions.LockError:
        # The lock expired while the attempt ran; the database fence already decided whether
        # its outcome counted, so this is worth a warning, not a retry.
        log.warning("lock of task %s had expired before release", task_id)


def take_lock(client: Redis, lock: Any, name: str, token: str) -> bool:
    """Acquire an attempt's lock `name` with `token`.

    The lock client tries a command once more on a new connection (runtime.py), so a SET whose
    reply was lost may have set the lock already: finding its own token, the delivery holds it.
    A lock whose holder died on this host is broken and taken.
    """
    if lock.acquire(token=token):
        return True
    encoded = token.encode()
    if client.get(name) == encoded:
        lock.local.token = encoded
        return True
    if break_lock_of_dead_owner(client, name):
        log.warning("%s: lock holder died on this host; lock broken", name)
        return bool(lock.acquire(token=token))
    return False
