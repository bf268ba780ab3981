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

With `acks_late` kombu also makes two round trips per task in the worker's main process: one
MULTI pipeline recording a delivered message in the unacked index, another removing it on the
ack. The channel's QoS below defers the Redis half of an ack: it rides in the next delivery's
pipeline, or goes alone `ACK_FLUSH_S` later when no delivery comes, and before the channel
closes. The ack itself (the prefetch slot, kombu's bookkeeping) is immediate; only the removal
from Redis waits. A worker that dies meanwhile leaves those messages in the unacked index, and
kombu restores them after the visibility timeout, as it does for a failed ack: the task's lock
and its database fence drop the repeat (counted as a duplicate delivery).
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from time import time
from typing import Any
from urllib.parse import urlsplit

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.json import dumps

log = logging.getLogger(__name__)

# Celery's `broker_transport` value for it: kombu loads a transport named "module:Class".
TRANSPORT = "celery_tasks.redis_transport:Transport"
# How long the Redis half of an ack waits for a delivery to ride with when the queue is idle:
# under load the next delivery comes within milliseconds; an idle worker removes it this late.
ACK_FLUSH_S = 0.05


class QoS(kombu_redis.QoS):
    """kombu's Redis QoS, sending an ack's removal from the unacked index with the next
    delivery's record (one pipeline, one round trip) rather than in a pipeline of its own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        # Only the event loop's thread defers its acks (see `ack`), so these need no lock.
        self._pending_acks: list[str] = []
        self._ack_timer: Any = None

    def append(self, message: Any, delivery_tag: str) -> None:
        """Record a delivered message as unacked, removing the acks waiting to go with it."""
        delivery = message.delivery_info
        exchange, routing_key = delivery["exchange"], delivery["routing_key"]
        tags = self._take_pending_acks()
        record = dumps([message._raw, exchange, routing_key])  # type: ignore[no-untyped-call]
        try:
            with self.pipe_or_acquire() as pipe:
                if tags:
                    pipe.zrem(self.unacked_index_key, *tags).hdel(self.unacked_key, *tags)
                pipe.zadd(self.unacked_index_key, {delivery_tag: time()}).hset(
                    self.unacked_key, delivery_tag, record
                ).execute()
        except BaseException:
            # A MULTI runs whole or not at all; the acks wait for the next pipeline (removing
            # them twice, had this one run before its reply was lost, does no harm).
            self._pending_acks[:0] = tags
            raise
        virtual.QoS.append(self, message, delivery_tag)  # type: ignore[no-untyped-call]

    def ack(self, delivery_tag: str) -> None:
        """Acknowledge now; remove the message from Redis with the next delivery, or soon."""
        transport = self.channel.connection
        hub = transport.ack_hub
        if hub is None or threading.get_ident() != transport.ack_thread:
            # No event loop to flush later (a consumer draining events itself), or an ack from
            # another thread (a pool other than prefork), where the loop's timers are not safe
            # to touch: as kombu does.
            super().ack(delivery_tag)  # type: ignore[no-untyped-call]
            return
        self._pending_acks.append(delivery_tag)
        virtual.QoS.ack(self, delivery_tag)  # type: ignore[no-untyped-call]
        timer = self._ack_timer
        if timer is None or timer.canceled:
            self._ack_timer = hub.call_later(ACK_FLUSH_S, self.flush_acks)

    def flush_acks(self) -> None:
        """Remove the acks still waiting from Redis, in one pipeline."""
        timer, self._ack_timer = self._ack_timer, None
        if timer is not None:
            timer.cancel()
        tags = self._take_pending_acks()
        if not tags:
            return
        try:
            with self.pipe_or_acquire() as pipe:
                pipe.zrem(self.unacked_index_key, *tags).hdel(self.unacked_key, *tags).execute()
        except Exception:
            # As a failed ack in kombu: the messages stay unacked in Redis until the visibility
            # timeout restores them, and the lock and fence drop the repeats.
            log.warning("%d acks not removed from the unacked index", len(tags), exc_info=True)

    def restore_unacked_once(self, stderr: Any = None) -> Any:
        """Send the waiting acks before kombu restores what is still unacked at close."""
        self.flush_acks()
        return super().restore_unacked_once(stderr)  # type: ignore[no-untyped-call]

    def _take_pending_acks(self) -> list[str]:
        tags, self._pending_acks = self._pending_acks, []
        return tags


class Channel(kombu_redis.Channel):
    """kombu's Redis channel, reusing one client for the commands it runs synchronously, with
    the QoS above."""

    QoS = QoS
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
    """kombu's Redis transport with the channel above, remembering the event loop it runs on
    (the QoS schedules its flush of waiting acks there)."""

    Channel = Channel
    ack_hub: Any = None
    ack_thread: int | None = None

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        self.ack_hub = loop
        self.ack_thread = threading.get_ident()
        super().register_with_event_loop(connection, loop)  # type: ignore[no-untyped-call]


def transport_for(broker_url: str) -> str | None:
    """This transport for a plain `redis://` broker URL; None for any other, so kombu chooses by
    the scheme: kombu ties behaviour to the scheme's own name (`rediss://` turns TLS on, and
    `sentinel://` has a channel of its own), which a transport named by its class would lose."""
    return TRANSPORT if urlsplit(broker_url).scheme == "redis" else None
