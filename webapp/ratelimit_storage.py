"""The rate limiter's Redis storage: one round trip per request at most, and far fewer for
high limits.

Flask-Limiter's fixed window counts a request with one script call (INCRBY, EXPIRE on the
first hit), then builds the X-RateLimit headers from a GET and a TTL of the same key: three
round trips, which a profile of single submits showed as a quarter of the API's time per
request. This storage returns the count and the key's remaining lifetime from the one script
call and answers the headers' GET and TTL from it. The figures are the ones Redis gave for this
request's own hit, which is what the headers describe.

A high limit is counted in leases. When a key's limit is at least twice `LEASE_SHARE` requests
a window, the script takes several counts of the window at once, one in `LEASE_SHARE` of the
limit and at most `LEASE_MAX`, and the process hands them out to its next requests, each a
count of its own: a client sending hundreds of requests a second pays one Redis round trip for
tens of them (the one left was still 8-28 % of a single submit's throughput, measured with it
switched off). Counts are never shared or reused, so a window still admits at most its limit
across every process. A process may end a window holding counts it did not hand out: the window
then admits up to `LEASE_MAX - 1` fewer requests per API process, at most a thousandth of the
limit. Limits below 2,000 a window (the default 1,200 a minute among them) are counted one
request at a time, exactly as before; the read default, 6,000 a minute, in leases of 6.

It is registered under the scheme `taskservice+redis` (limits picks storages by scheme);
`storage_uri` maps a `redis://` or `rediss://` URL to it.
"""

import threading
import time
from dataclasses import dataclass

from limits.limits import GRANULARITIES
from limits.storage import RedisStorage

SCHEME_PREFIX = "taskservice+"
# INCRBY, EXPIRE on the window's first hit (as limits' own script does), and PTTL.
INCR_WITH_TTL = b"""
local amount = tonumber(ARGV[2])
local current = redis.call("incrby", KEYS[1], amount)
if current == amount then
    redis.call("expire", KEYS[1], ARGV[1])
end
return {current, redis.call("pttl", KEYS[1])}
"""
# How long a thread's last hit may answer for its key. Every limited request hits before it
# reads, so this only bounds a figure read without a hit (no path of Flask-Limiter's does that).
FRESH_S = 1.0
# A lease holds at most one count in LEASE_SHARE of the key's limit, and at most LEASE_MAX.
LEASE_SHARE = 1000
LEASE_MAX = 64
# Leases of ended windows are dropped once the process holds this many.
LEASES_KEPT = 1024
_GRANULARITY_NAMES = frozenset(GRANULARITIES)


def storage_uri(url: str) -> str:
    """The limiter's storage URI for the configured store: ours for Redis, else unchanged."""
    if url.startswith(("redis://", "rediss://")):
        return SCHEME_PREFIX + url
    return url


def limit_in_key(key: str) -> int | None:
    """The limit a limits key counts for: `RateLimitItem.key_for` ends its keys with the
    amount, the multiple and the granularity (`.../100000/1/minute`). None for other keys."""
    parts = key.rsplit("/", 3)
    if len(parts) != 4 or parts[3] not in _GRANULARITY_NAMES:
        return None
    amount, multiples = parts[1], parts[2]
    if not (amount.isdigit() and multiples.isdigit()):
        return None
    return int(amount)


def lease_size(limit: int | None) -> int:
    """How many counts one round trip takes for a key with this limit (1: counted exactly)."""
    if limit is None:
        return 1
    return max(1, min(LEASE_MAX, limit // LEASE_SHARE))


@dataclass
class _Lease:
    """Counts of one window taken from Redis and not handed out yet: `next` to `last`."""

    next: int
    last: int
    expires_at: float


class OneTripRedisStorage(RedisStorage):
    """limits' Redis storage whose `incr` also learns the key's expiry and leases the counts of
    high limits (see the module doc)."""

    STORAGE_SCHEME = ["taskservice+redis", "taskservice+rediss"]  # noqa: RUF012 - limits declares it a list

    def __init__(self, uri: str, **options: float | str | bool) -> None:
        # The thread's last hit: (key, count, expires_at, taken_at). The server's threads share
        # the storage, and each request is served by one thread.
        self._last = threading.local()
        # The process's leases, shared by its threads.
        self._leases: dict[str, list[_Lease]] = {}
        self._leases_lock = threading.Lock()
        super().__init__(uri.removeprefix(SCHEME_PREFIX), **options)  # type: ignore[arg-type]

    def initialize_storage(self, _uri: str) -> None:
        super().initialize_storage(_uri)
        self.lua_incr_with_ttl = self.get_connection().register_script(INCR_WITH_TTL)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        size = lease_size(limit_in_key(key)) if amount == 1 else 1
        if size > 1:
            leased = self._from_lease(key)
            if leased is not None:
                return leased
        count, ttl_ms = self.lua_incr_with_ttl([self.prefixed_key(key)], [expiry, amount * size])
        count = int(count)
        expires_at = time.time() + max(int(ttl_ms), 0) / 1000
        if size > 1:
            first = count - size + 1
            self._keep_lease(key, _Lease(first + 1, count, expires_at))
            count = first
        self._remember(key, count, expires_at)
        return count

    def _from_lease(self, key: str) -> int | None:
        """The next count of the key's leases, or None when they have none left in a window
        that has not ended."""
        now = time.time()
        with self._leases_lock:
            leases = self._leases.get(key, [])
            while leases and (leases[0].next > leases[0].last or now >= leases[0].expires_at):
                leases.pop(0)
            if not leases:
                return None
            lease = leases[0]
            count = lease.next
            lease.next += 1
        self._remember(key, count, lease.expires_at)
        return count

    def _keep_lease(self, key: str, lease: _Lease) -> None:
        # Threads that run out together each take a lease; every one is kept and handed out,
        # so no count goes unused while its window lasts.
        with self._leases_lock:
            self._leases.setdefault(key, []).append(lease)
            if len(self._leases) > LEASES_KEPT:
                now = time.time()
                ended = [k for k, v in self._leases.items() if all(x.expires_at <= now for x in v)]
                for name in ended:
                    del self._leases[name]

    def _remember(self, key: str, count: int, expires_at: float) -> None:
        self._last.hit = (key, count, expires_at, time.monotonic())

    def _fresh(self, key: str) -> tuple[int, float] | None:
        hit = getattr(self._last, "hit", None)
        if hit is None or hit[0] != key or time.monotonic() - hit[3] > FRESH_S:
            return None
        return hit[1], hit[2]

    def get(self, key: str) -> int:
        fresh = self._fresh(key)
        return fresh[0] if fresh is not None else super().get(key)

    def get_expiry(self, key: str) -> float:
        fresh = self._fresh(key)
        return fresh[1] if fresh is not None else super().get_expiry(key)
