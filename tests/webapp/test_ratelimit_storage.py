"""The limiter's storage counts a request and learns its window's expiry in one round trip
(real Redis, the test database), and answers the limit headers from it."""

import threading
import time
import uuid

from limits import parse
from limits.storage import storage_from_string
from redis import Redis

from tests.conftest import TEST_BROKER_URL
from webapp.ratelimit_storage import (
    LEASE_MAX,
    LEASE_SHARE,
    OneTripRedisStorage,
    lease_size,
    limit_in_key,
    storage_uri,
)


def _last_command_of(observer: Redis, client_name: str) -> str:
    """The last command Redis served on the connection named `client_name` (CLIENT LIST)."""
    (entry,) = [c for c in observer.client_list() if c["name"] == client_name]
    return str(entry["cmd"])


def test_a_hit_answers_its_keys_count_and_expiry_without_another_round_trip(test_broker):
    name = f"rl-{uuid.uuid4().hex[:8]}"
    storage = storage_from_string(storage_uri(TEST_BROKER_URL), client_name=name)
    assert isinstance(storage, OneTripRedisStorage)
    key = f"test:{uuid.uuid4().hex}"
    try:
        assert [storage.incr(key, 60) for _ in range(3)] == [1, 2, 3]
        assert _last_command_of(test_broker, name) == "evalsha"
        before = time.time()
        assert storage.get(key) == 3
        assert before < storage.get_expiry(key) <= before + 60
        # Answered from the hit: Redis saw no GET or TTL.
        assert _last_command_of(test_broker, name) == "evalsha"
        # What the hit stored is what Redis holds: the count, with the window's expiry.
        assert test_broker.get(storage.prefixed_key(key)) == b"3"
        assert 0 < test_broker.ttl(storage.prefixed_key(key)) <= 60
        # Another key was not hit by this thread: asked of Redis.
        assert storage.get(f"{key}:other") == 0
        assert _last_command_of(test_broker, name) == "get"
    finally:
        storage.storage.close()


def test_only_redis_urls_get_the_one_trip_storage():
    assert storage_uri("redis://127.0.0.1:6379/0") == "taskservice+redis://127.0.0.1:6379/0"
    assert storage_uri("rediss://cache:6380/1") == "taskservice+rediss://cache:6380/1"
    assert storage_uri("memory://") == "memory://"


def _limits_key(amount: int, granularity: str = "minute") -> str:
    """A key as limits' RateLimitItem.key_for builds it for Flask-Limiter."""
    return f"LIMITER/taskservice-rl/key:{uuid.uuid4().hex}/submit/{amount}/1/{granularity}"


def test_the_limit_is_read_from_limits_own_key_format_and_sizes_the_lease():
    key = parse("250000/hour").key_for("taskservice-rl", "key:7", "submit")
    assert limit_in_key(key) == 250_000
    assert limit_in_key("test:some-key") is None
    assert limit_in_key("LIMITER/a/b/ten/1/minute") is None
    assert limit_in_key("LIMITER/a/b/10/1/fortnight") is None
    assert lease_size(None) == 1
    assert lease_size(1_200) == 1
    assert lease_size(6_000) == 6
    assert lease_size(LEASE_SHARE * 2) == 2
    assert lease_size(10_000_000) == LEASE_MAX


def test_a_high_limit_is_counted_in_leases_and_a_low_one_exactly(test_broker):
    storage = storage_from_string(storage_uri(TEST_BROKER_URL))
    high, low = _limits_key(LEASE_SHARE * LEASE_MAX), _limits_key(6)
    try:
        assert [storage.incr(high, 60) for _ in range(10)] == list(range(1, 11))
        # One round trip took the whole lease: Redis holds its last count.
        assert test_broker.get(storage.prefixed_key(high)) == str(LEASE_MAX).encode()
        assert storage.get(high) == 10
        assert [storage.incr(high, 60) for _ in range(LEASE_MAX)][-10:] == list(
            range(LEASE_MAX + 1, LEASE_MAX + 11)
        )
        assert test_broker.get(storage.prefixed_key(high)) == str(2 * LEASE_MAX).encode()
        assert [storage.incr(low, 60) for _ in range(8)] == list(range(1, 9))
        assert test_broker.get(storage.prefixed_key(low)) == b"8"
    finally:
        storage.storage.close()


def test_leased_counts_are_never_shared_across_processes_or_threads(test_broker):
    # Two storages stand for two API processes; each runs four threads on the same budget.
    key = _limits_key(LEASE_SHARE * LEASE_MAX)
    storages = [storage_from_string(storage_uri(TEST_BROKER_URL)) for _ in range(2)]
    counts: list[int] = []
    lock = threading.Lock()

    def hit(storage, n: int) -> None:
        mine = [storage.incr(key, 60) for _ in range(n)]
        with lock:
            counts.extend(mine)

    try:
        threads = [threading.Thread(target=hit, args=(storages[i % 2], 500)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        taken = int(test_broker.get(storages[0].prefixed_key(key)))
    finally:
        for storage in storages:
            storage.storage.close()
    assert len(counts) == 4_000
    assert len(set(counts)) == 4_000, "a count was handed to two requests"
    assert max(counts) <= taken
    # What the processes hold unspent is at most a lease per thread that raced for one.
    assert taken - 4_000 < 8 * LEASE_MAX


def test_a_lease_ends_with_its_window(test_broker):
    storage = storage_from_string(storage_uri(TEST_BROKER_URL))
    key = _limits_key(LEASE_SHARE * LEASE_MAX, "second")
    try:
        assert [storage.incr(key, 1) for _ in range(3)] == [1, 2, 3]
        time.sleep(1.1)
        # Redis started a new window; the old lease's counts are not handed out in it.
        assert storage.incr(key, 1) == 1
    finally:
        storage.storage.close()
