"""The relay's loop: drain the outbox, then sleep until NOTIFY or the sweep interval."""

import logging
from collections.abc import Callable

import psycopg
import sqlalchemy as sa

from db.topics import OUTBOX_CHANNEL
from relay.relay import Relay

log = logging.getLogger("relay")


class Waker:
    """The LISTEN connection that wakes the relay when a transaction writes the outbox."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def ensure(self) -> None:
        """Connect and LISTEN, unless connected already."""
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5)
            self._conn.execute(f"LISTEN {OUTBOX_CHANNEL}")

    def wait(self, timeout_s: float) -> None:
        """Return at the first NOTIFY, or after `timeout_s` (the sweep)."""
        self.ensure()
        assert self._conn is not None
        for _ in self._conn.notifies(timeout=timeout_s, stop_after=1):
            pass

    def close(self) -> None:
        """Close the connection; the next `ensure` opens a fresh one."""
        if self._conn is not None:
            self._conn.close()
        self._conn = None


# The errors of a database that is down or restarting: the loop backs off and retries.
DATABASE_ERRORS = (psycopg.Error, sa.exc.SQLAlchemyError)


def make_step(relay: Relay, waker: Waker) -> Callable[[], float]:
    """The relay loop's step: drain, then sleep until NOTIFY or the sweep interval."""
    settings = relay.settings

    def step() -> float:
        try:
            waker.ensure()
            outcome = relay.publish_batch()
            if outcome.errors:
                log.warning(
                    "%d of %d outbox rows not published; retrying: %s",
                    outcome.claimed - len(outcome.delivered),
                    outcome.claimed,
                    outcome.errors[0],
                )
                return settings.error_backoff_s
            if outcome.delivered:
                log.info("published %d outbox rows", len(outcome.delivered))
            if outcome.claimed >= settings.batch_size:
                return 0.0
            relay.observe_backlog_now_and_then()
            waker.wait(settings.sweep_interval_s)
        except DATABASE_ERRORS:
            # A fresh LISTEN connection once the database is back; the loop logs and backs off.
            waker.close()
            raise
        return 0.0

    return step
