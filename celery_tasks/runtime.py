"""Per-process clients of a worker, created lazily so that each prefork child makes its own."""

import sqlalchemy as sa
from confluent_kafka.admin import AdminClient
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from celery_tasks.settings import WorkerSettings
from db.direct import DirectConnection
from db.engine import make_engine
from db.topics import make_admin


class WorkerResources:
    """The database engine and Redis client of one worker process."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self._engine: sa.Engine | None = None
        self._direct: DirectConnection | None = None
        self._redis: Redis | None = None
        self._broker_redis: Redis | None = None
        self._kafka_admin: AdminClient | None = None

    @property
    def engine(self) -> sa.Engine:
        """The primary database engine of this process."""
        if self._engine is None:
            # No pre-ping: every use (a settle, a retry's or failure's write, a lease renewal)
            # is retried when it meets a dropped connection, by autoretry_for, durable()
            # (celery_tasks/settle.py) or the next renewal; the ping would cost a round trip.
            self._engine = make_engine(
                self.settings.database_url,
                pool_size=2,
                max_overflow=2,
                app_name="worker",
                pre_ping=False,
            )
        return self._engine

    @property
    def direct(self) -> DirectConnection:
        """The connection of the claim and the completion, run once per task each, on the
        driver itself (db/direct.py: a third of the cost through SQLAlchemy), each statement
        its own transaction and planned once."""
        if self._direct is None:
            self._direct = DirectConnection(self.settings.database_url, app_name="worker")
        return self._direct

    @property
    def redis(self) -> Redis:
        """The Redis client (task locks) of this process."""
        if self._redis is None:
            # One connection held by the client instead of a pool: a process runs one task at a
            # time, and only the lease keeper's thread shares the client (redis-py serialises
            # the two with the client's own lock). Taking a pooled connection and giving it
            # back was over a quarter of a lock's CPU: Lock.acquire cost 65-72 us alone against
            # 92-99 us; in four alternating pairs of drains, the worker children's CPU over the
            # main process's went from 1.29-1.42 to 1.24-1.34, about 0.07 ms per task.
            # A pool tests a connection as it hands it out; a held one is found dead only by
            # the command that uses it, so that command is tried once more on a new connection
            # (a connection Redis closed while idle, or a restart).
            self._redis = Redis.from_url(
                self.settings.redis_url,
                socket_timeout=5,
                socket_connect_timeout=5,
                single_connection_client=True,
                retry=Retry(NoBackoff(), 1),
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
        if self._direct is not None:
            self._direct.forget()
        self._engine = None
        self._direct = None
        self._redis = None
        self._broker_redis = None

    def close(self) -> None:
        """Close this process's own clients (at shutdown)."""
        if self._engine is not None:
            self._engine.dispose()
        if self._direct is not None:
            self._direct.close()
        for client in (self._redis, self._broker_redis):
            if client is not None:
                client.close()
        self._engine = None
        self._direct = None
        self._redis = None
        self._broker_redis = None

    @property
    def kafka_admin(self) -> AdminClient:
        """A Kafka admin client (the reconciler reads the bridges' committed offsets)."""
        if self._kafka_admin is None:
            self._kafka_admin = make_admin(self.settings.kafka_bootstrap_servers)
        return self._kafka_admin
