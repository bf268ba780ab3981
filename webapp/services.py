"""The clients one API process uses, made lazily (after gunicorn forks) and kept on the app."""

import threading

from cachetools import TTLCache
from confluent_kafka.admin import AdminClient
from flask import Flask, current_app
from redis import Redis

from celery_tasks.catalog import Catalog
from db.direct import DirectConnection
from db.engine import Engines, make_engines
from db.topics import make_admin
from webapp.settings import WebSettings

EXTENSION = "taskservice"
# A submit connection idle for longer is tested with a round trip before its statement.
IDLE_PING_S = 1.0


class Services:
    """Engines, Redis and the Kafka admin client of one API process."""

    def __init__(self, settings: WebSettings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self.limits = settings.limits
        # Engines connect on first use only, so building them here opens nothing.
        self.engines: Engines = make_engines(
            settings.database_url, settings.database_replica_url, app_name="api"
        )
        self.redis = Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        self._admin: AdminClient | None = None
        self._lock = threading.Lock()
        # Each of gunicorn's threads has its own direct connection for single submits.
        self._local = threading.local()
        self._direct: list[DirectConnection] = []
        # Verified keys by their hash; gunicorn's threads share it, so it has its own lock.
        self.key_cache: TTLCache[str, object] | None = (
            TTLCache(maxsize=10_000, ttl=settings.auth_cache_ttl_s)
            if settings.auth_cache_ttl_s > 0
            else None
        )
        self.key_cache_lock = threading.Lock()

    @property
    def kafka_admin(self) -> AdminClient:
        """The Kafka admin client (readiness checks), created on first use."""
        with self._lock:
            if self._admin is None:
                self._admin = make_admin(self.settings.kafka_bootstrap_servers)
            return self._admin

    def submit_connection(self) -> DirectConnection:
        """This thread's connection for single submits, on the driver itself: the submit's one
        statement costs half the API's CPU per request less than through a pooled SQLAlchemy
        connection with its pre-ping (db/direct.py); it is tested only after idling."""
        conn: DirectConnection | None = getattr(self._local, "direct", None)
        if conn is None:
            conn = DirectConnection(
                self.settings.database_url, app_name="api", idle_ping_s=IDLE_PING_S
            )
            self._local.direct = conn
            with self._lock:
                self._direct.append(conn)
        return conn

    def close(self) -> None:
        """Release pooled and direct connections."""
        self.engines.dispose()
        with self._lock:
            for conn in self._direct:
                conn.close()
            self._direct.clear()
        self.redis.close()


def init_app(app: Flask, services: Services) -> None:
    """Attach `services` to `app`."""
    app.extensions[EXTENSION] = services


def services() -> Services:
    """The services of the current app."""
    found: Services = current_app.extensions[EXTENSION]
    return found
