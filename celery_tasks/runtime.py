"""Per-process clients of a worker, created lazily so that each prefork child makes its own."""

import sqlalchemy as sa
from redis import Redis

from celery_tasks.settings import WorkerSettings
from db.engine import make_engine


class WorkerResources:
    """The database engine and Redis client of one worker process."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self._engine: sa.Engine | None = None
        self._redis: Redis | None = None
        self._broker_redis: Redis | None = None

    @property
    def engine(self) -> sa.Engine:
        """The primary database engine of this process."""
        if self._engine is None:
            self._engine = make_engine(
                self.settings.database_url, pool_size=2, max_overflow=2, app_name="worker"
            )
        return self._engine

    @property
    def redis(self) -> Redis:
        """The Redis client (task locks) of this process."""
        if self._redis is None:
            self._redis = Redis.from_url(
                self.settings.redis_url, socket_timeout=5, socket_connect_timeout=5
            )
        return self._redis

    @property
    def broker_redis(self) -> Redis:
        """A plain Redis client on the Celery broker's database (the reconciler's epoch)."""
        if self._broker_redis is None:
            self._broker_redis = Redis.from_url(
                self.settings.broker.broker_url, socket_timeout=5, socket_connect_timeout=5
            )
        return self._broker_redis

    def reset(self) -> None:
        """Forget clients inherited across fork; the child creates its own on first use."""
        if self._engine is not None:
            self._engine.dispose(close=False)
        self._engine = None
        self._redis = None
        self._broker_redis = None

    def close(self) -> None:
        """Close this process's own clients (at shutdown)."""
        if self._engine is not None:
            self._engine.dispose()
        for client in (self._redis, self._broker_redis):
            if client is not None:
                client.close()
        self._engine = None
        self._redis = None
        self._broker_redis = None
