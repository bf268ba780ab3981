"""The rate limiter's Redis storage: one round trip per request instead of three.

Flask-Limiter's fixed window counts a request with one script call (INCRBY, EXPIRE on the
first hit), then builds the X-RateLimit headers from a GET and a TTL of the same key: three
round trips, which a profile of single submits showed as a quarter of the API's time per
request. This storage returns the count and the key's remaining lifetime from the one script
call and answers the headers' GET and TTL from it. The figures are the ones Redis gave for this
request's own hit, which is what the headers describe.

It is registered under the scheme `taskservice+redis` (limits picks storages by scheme);
`storage_uri` maps a `redis://` or `rediss://` URL to it.
"""

import threading
import time

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


def storage_uri(url: str) -> str:
    """The limiter's storage URI for the configured store: ours for Redis, else unchanged."""
    if url.startswith(("redis://", "rediss://")):
        return SCHEME_PREFIX + url
    return url


class OneTripRedisStorage(RedisStorage):
    """limits' Redis storage whose `incr` also learns the key's expiry (see the module doc)."""

    STORAGE_SCHEME = ["taskservice+redis", "taskservice+rediss"]  # noqa: RUF012 - limits declares it a list

    def __init__(self, uri: str, **options: float | str | bool) -> None:
        # The thread's last hit: (key, count, expires_at, taken_at). gunicorn's threads share
        # the storage, and each request is served by one thread.
        self._last = threading.local()
        super().__init__(uri.removeprefix(SCHEME_PREFIX), **options)  # type: ignore[arg-type]

    def initialize_storage(self, _uri: str) -> None:
        super().initialize_storage(_uri)
        self.lua_incr_with_ttl = self.get_connection().register_script(INCR_WITH_TTL)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        count, ttl_ms = self.lua_incr_with_ttl([self.prefixed_key(key)], [expiry, amount])
        now = time.time()
        self._last.hit = (key, int(count), now + max(int(ttl_ms), 0) / 1000, time.monotonic())
        return int(count)

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
