"""Engine factories for the primary and the (optional) read replica, and read routing."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import sqlalchemy as sa

log = logging.getLogger(__name__)

T = TypeVar("T")
# After the replica fails, reads go straight to the primary for this long, so a replica that is
# down costs one failed connection attempt per process and period, not one per request.
REPLICA_RETRY_AFTER_S = 5.0


def make_engine(
    url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    app_name: str = "",
    pre_ping: bool = True,
) -> sa.Engine:
    """Create an engine; it connects lazily, on first use, so it is safe to build before fork.

    `pre_ping` tests every connection taken from the pool with a round trip. A process whose
    every database call is retried on a lost connection anyway (the worker, the relay) can do
    without: SQLAlchemy then invalidates the whole pool at the first disconnect it meets.
    """
    connect_args: dict[str, object] = {"connect_timeout": 5}
    if app_name:
        connect_args["application_name"] = app_name
    return sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=pre_ping,
        pool_recycle=1800,
        connect_args=connect_args,
    )


@dataclass
class Engines:
    """The primary (writes) and the engine for read-only queries (the replica, or the primary)."""

    primary: sa.Engine
    replica: sa.Engine | None = None
    replica_down_until: float = 0.0

    @property
    def reader(self) -> sa.Engine:
        """The engine read-only queries should use (no fallback; prefer `read`)."""
        return self.replica or self.primary

    def read(self, query: Callable[[sa.Connection], T]) -> T:
        """Run a read-only `query` on the replica; on the primary when the replica fails.

        Read-only work is safe to repeat, so any operational error on the replica (refused or
        dropped connection, a query cancelled by a recovery conflict) is retried on the primary.
        """
        if self.replica is not None and time.monotonic() >= self.replica_down_until:
            try:
                with self.replica.connect() as conn:
                    return query(conn)
            except sa.exc.OperationalError as err:
                self.replica_down_until = time.monotonic() + REPLICA_RETRY_AFTER_S
                log.warning(
                    "replica failed (%s); reading from the primary for %.0fs",
                    type(err.orig).__name__,
                    REPLICA_RETRY_AFTER_S,
                )
        with self.primary.connect() as conn:
            return query(conn)

    def dispose(self) -> None:
        """Close every pooled connection (after fork, or at shutdown)."""
        self.primary.dispose()
        if self.replica is not None:
            self.replica.dispose()


def make_engines(primary_url: str, replica_url: str | None, *, app_name: str = "") -> Engines:
    """Create the primary engine and, when a replica URL is given, the replica engine."""
    primary = make_engine(primary_url, app_name=app_name)
    replica = make_engine(replica_url, app_name=app_name) if replica_url else None
    return Engines(primary=primary, replica=replica)
