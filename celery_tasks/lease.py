"""Heartbeat leases: the worker process renews the lease of the attempt it runs.

An attempt's lease in PostgreSQL and its lock in Redis used to last the handler's hard time
limit plus a grace, so a worker that died unnoticed (a whole node killed, a pod gone) held its
tasks for minutes. Now both last `lease_s` (seconds) and a thread of the worker process, not the
handler's code, renews them every `heartbeat_interval_s`: while the process lives and can reach
PostgreSQL the lease never runs out, and once it dies the reconciler finds the lease expired
within `lease_s` and re-runs the attempt, wherever the worker ran. The fence stays: a worker that
was paused and wakes after its lease was taken finds its token gone, stops renewing, and its
final write is refused.
"""

import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis.exceptions
import sqlalchemy as sa
from redis.lock import Lock

from db.execution import renew_lease

log = logging.getLogger(__name__)


@dataclass
class Lease:
    """The attempt being kept alive, and whether its lease was lost meanwhile."""

    task_id: uuid.UUID
    token: uuid.UUID
    lock: Lock
    lost: bool = False


class LeaseKeeper:
    """One daemon thread per worker process that renews the current attempt's lease."""

    def __init__(self, engine: Callable[[], sa.Engine], lease_s: float, interval_s: float) -> None:
        self._engine = engine
        self.lease_s = lease_s
        self.interval_s = interval_s
        self._current: Lease | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    @contextmanager
    def keep(self, task_id: uuid.UUID, token: uuid.UUID, lock: Lock) -> Iterator[Lease]:
        """Renew this attempt's lease and lock until the block ends."""
        lease = Lease(task_id, token, lock)
        self._ensure_thread()
        with self._lock:
            self._current = lease
        try:
            yield lease
        finally:
            with self._lock:
                self._current = None

    def _ensure_thread(self) -> None:
        # A prefork child inherits the parent's objects but not its threads; each process
        # starts its own on first use.
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.interval_s)
            with self._lock:
                lease = self._current
            if lease is None or lease.lost:
                continue
            # The keeper must outlive any one failure, or every later renewal is lost too.
            try:
                self.renew(lease)
            except Exception:
                log.exception("task %s: lease renewal failed", lease.task_id)

    def renew(self, lease: Lease) -> None:
        """Renew once: the lease in PostgreSQL, then the lock in Redis."""
        try:
            with self._engine().begin() as conn:
                kept = renew_lease(conn, lease.task_id, lease.token, self.lease_s)
        except sa.exc.SQLAlchemyError as err:
            # Unreachable for now: the lease may run out, the reconciler then decides; the
            # attempt's own final write is fenced either way.
            log.warning("task %s: lease not renewed (%s)", lease.task_id, err)
            return
        if not kept:
            with self._lock:
                ended = self._current is not lease
            if ended:
                # The attempt finished while this renewal was under way: nothing was lost.
                return
            lease.lost = True
            log.warning("task %s: lease lost to a newer attempt; no longer renewed", lease.task_id)
            return
        try:
            lease.lock.extend(self.lease_s, replace_ttl=True)
        except redis.exceptions.RedisError as err:
            # The database lease is the fence; the lock only keeps a second worker from
            # starting the same attempt in the meantime.
            log.warning("task %s: lock not extended (%s)", lease.task_id, err)
