"""Waking the relay after the API's commits: one NOTIFY for many, outside their transactions.

Why not NOTIFY inside the submit's own transaction, as the other writers of the outbox do:
PostgreSQL serialises every committing transaction that sent a NOTIFY behind one database-wide
lock, held until its commit record is flushed to disk. Every single submit then waited for
the previous one's WAL flush instead of sharing a flush with it, and while the stack drained
the tasks (the worker's commits flushing too) half of the API's 8 sessions were waiting on that
lock (`Lock:object` in `pg_stat_activity`, 4.3 of 8 sampled; 0.8 with the API alone). Without
it the API answered 1,280-1,370 single submits a second during a drain, against 600-890 (issue
12; docs/capacity.md).

The wake-up is a hint, not the guarantee: a commit's outbox row is published by the relay's
next pass, which a lost hint only delays until its sweep (`RELAY_SWEEP_INTERVAL_S`). So the
NOTIFY runs on a connection of its own with `synchronous_commit=off` (nothing in its
transaction needs to survive a crash, so it holds the lock for microseconds, not a flush), from
one thread per process that coalesces every ring that arrives while it sends.

Ordering: `ring` is called after the commit, and the NOTIFY it causes is sent after `ring`, so
the relay's pass that follows the notification sees the committed row.
"""

import logging
import os
import threading

import psycopg

from db.direct import libpq_conninfo
from db.topics import OUTBOX_CHANNEL

log = logging.getLogger(__name__)

NOTIFY_SQL = f"SELECT pg_notify('{OUTBOX_CHANNEL}', '')"
# After a NOTIFY, the next waits this long: under load one NOTIFY per 5 ms per process wakes the
# relay as well as one per commit did (it drains whatever committed meanwhile), and a lone
# submit, which finds the thread idle, is not delayed at all.
SPACING_S = 0.005
# A failed NOTIFY (the database restarting) is retried after this long; the relay's sweep
# publishes what committed meanwhile anyway.
RETRY_S = 1.0


class RelayWakeup:
    """Wakes the relay after commits; `ring` never blocks and never raises.

    The thread and its connection start at the first `ring` in a process, so one made before
    the server forks its workers is usable in each of them.
    """

    def __init__(
        self,
        database_url: str,
        *,
        app_name: str,
        spacing_s: float = SPACING_S,
        retry_s: float = RETRY_S,
        connect_timeout_s: int = 5,
    ) -> None:
        self.conninfo = libpq_conninfo(database_url)
        self.app_name = app_name
        self.spacing_s = spacing_s
        self.retry_s = retry_s
        self.connect_timeout_s = connect_timeout_s
        self._pending = threading.Event()
        self._stopping = threading.Event()
        self._start_lock = threading.Lock()
        self._owner_pid = 0
        self._thread: threading.Thread | None = None
        self.sent = 0

    def ring(self) -> None:
        """Ask for a NOTIFY; call it after the commit whose outbox rows the relay should see."""
        self._pending.set()
        if self._owner_pid != os.getpid():
            self._start()

    def _start(self) -> None:
        with self._start_lock:
            if self._owner_pid == os.getpid() or self._stopping.is_set():
                return
            self._owner_pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="relay-wakeup", daemon=True)
            self._thread.start()

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            self.conninfo,
            autocommit=True,
            connect_timeout=self.connect_timeout_s,
            application_name=self.app_name,
            options="-c synchronous_commit=off",
        )

    def _run(self) -> None:
        conn: psycopg.Connection[tuple[object, ...]] | None = None
        failing = False
        try:
            while True:
                self._pending.wait()
                if self._stopping.is_set():
                    return
                self._pending.clear()
                try:
                    if conn is None or conn.closed:
                        conn = self._connect()
                    conn.execute(NOTIFY_SQL)
                except psycopg.Error as err:
                    if not failing:
                        log.warning("cannot wake the relay (%s); its sweep will publish", err)
                    failing = True
                    if conn is not None:
                        conn.close()
                    conn = None
                    # The hint is owed still: send it once the database answers again.
                    self._pending.set()
                    self._stopping.wait(self.retry_s)
                    continue
                if failing:
                    log.info("waking the relay again")
                failing = False
                self.sent += 1
                self._stopping.wait(self.spacing_s)
        finally:
            if conn is not None:
                conn.close()

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop the thread (sending nothing more) and close its connection."""
        self._stopping.set()
        self._pending.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout_s)
