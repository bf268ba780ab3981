"""kombu's Redis transport, with one client object per channel for its synchronous commands.

kombu's Redis channel builds a new `redis.Redis` object for every synchronous command it runs
outside the event loop: each publish (the bridge, the worker's task events) and, with
`acks_late`, twice per task in the worker's main process (the unacked index on delivery, its
removal on ack). Building one copies redis-py's table of response callbacks, about 84 us of
CPU each, measured alone (redis-py 7.4); the object holds no connection of its own, only the
channel's pool, which hands each command a connection and takes it back. So one object per
channel does the same work: the commands, the pool and the connections are unchanged.

Chosen with Celery's `broker_transport` setting for a `redis://` broker (config.py, through
`transport_for`), which wins over the URL's scheme; the broker URL stays `redis://...`, and
everything else of kombu's transport (the event loop's BRPOP client, the visibility timeout,
priorities, fanout) is kombu's. kombu then writes the broker URL with the class path as its
scheme (`Connection.as_uri`: the worker's "Connected to" line), which is why Flower, which picks
the client of its broker page by that scheme, keeps kombu's own transport (celery_tasks/app.py).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from kombu.transport import redis as kombu_redis

# Celery's `broker_transport` value for it: kombu loads a transport named "module:Class".
TRANSPORT = "celery_tasks.redis_transport:Transport"


class Channel(kombu_redis.Channel):
    """kombu's Redis channel, reusing one client for the commands it runs synchronously."""

    _sync_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        # kombu drops the channel's pool after a fork and when the connection fails
        # (`_disconnect_pools`), and `pool` builds the next one: a client is kept only as long
        # as the pool it was made on, so a command never runs on a pool kombu let go.
        pool = self.pool
        cached = self._sync_client
        if cached is None or cached.connection_pool is not pool:
            cached = self._sync_client = self._create_client()  # type: ignore[no-untyped-call]
        yield cached


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with the channel above."""

    Channel = Channel


def transport_for(broker_url: str) -> str | None:
    """This transport for a plain `redis://` broker URL; None for any other, so kombu chooses by
    the scheme: kombu ties behaviour to the scheme's own name (`rediss://` turns TLS on, and
    `sentinel://` has a channel of its own), which a transport named by its class would lose."""
    return TRANSPORT if urlsplit(broker_url).scheme == "redis" else None
