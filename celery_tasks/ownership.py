"""Who runs an attempt: "host:pid" of the worker process, and whether that process is gone.

A worker child killed mid-attempt (OOM killer, kill -9) leaves its Redis lock and its lease
behind until they expire, which for a long handler is minutes. Celery requeues the message at
once (`task_reject_on_worker_lost`); the delivery that gets it can see that the owner lived on
this very host and no longer exists, and take the attempt over immediately. An owner on another
host is never presumed dead: there the lease and lock timeouts decide.
"""

import os
import socket

from redis import Redis

# Deletes the lock only if it still holds the dead owner's token, so a lock another worker
# took in the meantime is never removed.
_DELETE_IF_EQUAL = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


def owner_id() -> str:
    """This process's owner string."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_dead_local_owner(owner: str | None) -> bool:
    """True only when `owner` names a process on this host that no longer exists."""
    if not owner:
        return False
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def lock_token(owner: str, nonce: str) -> str:
    """The Redis lock value of an attempt: its owner and a nonce unique to the acquisition."""
    return f"{owner}|{nonce}"


def break_lock_of_dead_owner(client: Redis, name: str) -> bool:
    """Delete lock `name` when its holder is a dead process on this host; True if deleted."""
    raw = client.get(name)
    if raw is None:
        return False
    value = raw.decode() if isinstance(raw, bytes) else str(raw)
    owner = value.partition("|")[0]
    if not is_dead_local_owner(owner):
        return False
    return bool(client.eval(_DELETE_IF_EQUAL, 1, name, value))
