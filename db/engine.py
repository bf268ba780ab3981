"""Engine factories for the primary and the (optional) read replica."""

from dataclasses import dataclass

import sqlalchemy as sa


def make_engine(
    url: str, *, pool_size: int = 5, max_overflow: int = 10, app_name: str = ""
) -> sa.Engine:
    """Create an engine; it connects lazily, on first use, so it is safe to build before fork."""
    connect_args: dict[str, object] = {"connect_timeout": 5}
    if app_name:
        connect_args["application_name"] = app_name
    return sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args=connect_args,
    )


@dataclass(frozen=True)
class Engines:
    """The primary (writes) and the engine for read-only queries (the replica, or the primary)."""

    primary: sa.Engine
    replica: sa.Engine | None = None

    @property
    def reader(self) -> sa.Engine:
        """The engine read-only queries should use."""
        return self.replica or self.primary

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
