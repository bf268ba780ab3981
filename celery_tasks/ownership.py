"""Who runs an attempt, and whether that process is gone.

An owner is "host/machine:pid". `machine` names the process table the pid belongs to: a digest
of the kernel's boot id and of this process's PID namespace. Two processes compare pids only
when their machine keys are equal, whatever their hostnames say: pods that share a hostname
live in different PID namespaces, and a worker started under another hostname (`unshare --uts`)
on this machine still shares its pids. The hostname is kept for people reading a lease.

A worker child killed mid-attempt (OOM killer, kill -9) leaves its Redis lock and its lease
behind. Celery requeues the message at once (`task_reject_on_worker_lost`); the delivery that
gets it can see that the owner lived in this very process table and no longer exists, and take
the attempt over immediately. An owner elsewhere is never presumed dead here: its lease, which
stops being renewed when it dies (celery_tasks/lease.py), decides.
"""

import functools
import hashlib
import os
import socket
from pathlib import Path

from redis import Redis

# Deletes the lock only if it still holds the dead owner's token, so a lock another worker
# took in the meantime is never removed.
_DELETE_IF_EQUAL = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


@functools.cache
def machine_key() -> str:
    """A short digest of this process table: boot id and PID namespace."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = socket.gethostname()
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return hashlib.sha256(f"{boot}|{namespace}".encode()).hexdigest()[:12]


def owner_for(pid: int) -> str:
    """The owner string of process `pid` of this process table."""
    return f"{socket.gethostname()}/{machine_key()}:{pid}"


def owner_id() -> str:
    """This process's owner string."""
    return owner_for(os.getpid())


def owner_pid(owner: str | None) -> int | None:
    """The pid an owner string names, or None."""
    if not owner:
        return None
    pid_text = owner.rpartition(":")[2]
    return int(pid_text) if pid_text.isdigit() else None


def is_dead_local_owner(owner: str | None) -> bool:
    """True only when `owner` names a process of this process table that no longer exists."""
    if not owner:
        return False
    where, _, pid_text = owner.rpartition(":")
    if where.rpartition("/")[2] != machine_key() or not pid_text.isdigit():
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
    """Delete lock `name` when its holder is a dead process of this table; True if deleted."""
    raw = client.get(name)
    if raw is None:
        return False
    value = raw.decode() if isinstance(raw, bytes) else str(raw)
    owner = value.partition("|")[0]
    if not is_dead_local_owner(owner):
        return False
    return bool(client.eval(_DELETE_IF_EQUAL, 1, name, value))
