"""The clients one API process uses, made lazily (after the server forks) and kept on the app."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from cachetools import TTLCache
from confluent_kafka.admin import AdminClient
from flask import Flask, current_app
from redis import Redis

from celery_tasks.catalog import Catalog
from db.direct import DirectConnection
from db.engine import Engines, make_engines
from db.topics import make_admin
from db.wakeup import RelayWakeup
from webapp.settings import WebSettings

EXTENSION = "taskservice"
# A submit connection idle for longer is tested with a round trip before its statement.
IDLE_PING_S = 1.0


class Services:
    """Engines, Redis, the relay's wake-up and the Kafka admin client of one API process."""

    def __init__(self, settings: WebSettings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self.limits = settings.limits
        # Engines connect on first use only, so building them here opens nothing.
        self.engines: Engines = make_engines(
            settings.database_url, settings.database_replica_url, app_name="api"
        )
        self.redis = Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        # Rung after each submit's commit; its thread and connection start at the first ring.
        self.relay_wakeup = RelayWakeup(settings.database_url, app_name="api-wakeup")
        self._admin: AdminClient | None = None
        self._lock = threading.Lock()
        # Direct connections for single submits not in use now, the last returned on top.
        self._idle_direct: list[DirectConnection] = []
        self._closed = False
        # Verified keys by their hash; the server's threads share it, so it has its own lock.
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

    @contextmanager
    def submit_connection(self) -> Iterator[DirectConnection]:
        """A connection for one submit, on the driver itself: the submit's one statement costs
        half the API's CPU per request less than through a pooled SQLAlchemy connection with
        its pre-ping (db/direct.py); it is tested only after idling.

        Taken from this process's idle ones (or opened) and put back after the request, so
        there are never more than the requests served at once. Not one per thread: granian
        ends a pool thread idle for 30 s and starts another when busy again, and a connection
        per thread outlived its thread (measured: 3 more PostgreSQL sessions per idle spell).
        """
        with self._lock:
            conn = self._idle_direct.pop() if self._idle_direct else None
        if conn is None:
            conn = DirectConnection(
                self.settings.database_url, app_name="api", idle_ping_s=IDLE_PING_S
            )
        try:
            yield conn
        finally:
            with self._lock:
                keep = not self._closed
                if keep:
                    self._idle_direct.append(conn)
            if not keep:
                conn.close()

    def close(self) -> None:
        """Release pooled and direct connections (one in use is closed when it is put back)."""
        self.relay_wakeup.close()
        self.engines.dispose()
        with self._lock:
            self._closed = True
            idle, self._idle_direct = self._idle_direct, []
        for conn in idle:
            conn.close()
        self.redis.close()


def init_app(app: Flask, services: Services) -> None:
    """Attach `services` to `app`."""
    app.extensions[EXTENSION] = services


def services() -> Services:
    """The services of the current app."""
    found: Services = current_app.extensions[EXTENSION]
    return found
