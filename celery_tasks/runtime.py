"""Per-process clients of a worker, created lazily so that each prefork child makes its own."""

import sqlalchemy as sa
from confluent_kafka.admin import AdminClient
from redis import Redis

from celery_tasks.settings import WorkerSettings
from db.engine import make_engine
from db.topics import make_admin


class WorkerResources:
    """The database engine and Redis client of one worker process."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self._engine: sa.Engine | None = None
        self._autocommit: sa.Engine | None = None
        self._redis: Redis | None = None
        self._broker_redis: Redis | None = None
        self._kafka_admin: AdminClient | None = None

    @property
    def engine(self) -> sa.Engine:
        """The primary database engine of this process."""
        if self._engine is None:
            # No pre-ping: a claim that meets a dropped connection is retried by autoretry_for,
            # a final write by durable() (celery_tasks/settle.py); the ping would cost a round
            # trip twice per task.
            self._engine = self._make_engine(pool_size=2, generic_plans=False)
        return self._engine

    @property
    def autocommit(self) -> sa.Engine:
        """The engine of the claim and the completion, run once per task each: every statement
        its own transaction (each is a single statement, and BEGIN and COMMIT would double their
        round trips), planned once per connection (db/engine.py, `generic_plans`). A pool of
        its own, since the plan setting is the connection's; one at a time per process."""
        if self._autocommit is None:
            self._autocommit = self._make_engine(pool_size=1, generic_plans=True, autocommit=True)
        return self._autocommit

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

    def _make_engine(
        self, *, pool_size: int, generic_plans: bool, autocommit: bool = False
    ) -> sa.Engine:
        """An engine of the worker on the primary, `pool_size` connections and as many more."""
        return make_engine(
            self.settings.database_url,
            pool_size=pool_size,
            max_overflow=pool_size,
            app_name="worker",
            pre_ping=False,
            generic_plans=generic_plans,
            autocommit=autocommit,
        )

    def reset(self) -> None:
        """Forget clients inherited across fork; the child creates its own on first use."""
        for engine in (self._engine, self._autocommit):
            if engine is not None:
                engine.dispose(close=False)
        self._engine = None
        self._autocommit = None
        self._redis = None
        self._broker_redis = None

    def close(self) -> None:
        """Close this process's own clients (at shutdown)."""
        for engine in (self._engine, self._autocommit):
            if engine is not None:
                engine.dispose()
        for client in (self._redis, self._broker_redis):
            if client is not None:
                client.close()
        self._engine = None
        self._autocommit = None
        self._redis = None
        self._broker_redis = None

    @property
    def kafka_admin(self) -> AdminClient:
        """A Kafka admin client (the reconciler reads the bridges' committed offsets)."""
        if self._kafka_admin is None:
            self._kafka_admin = make_admin(self.settings.kafka_bootstrap_servers)
        return self._kafka_admin
