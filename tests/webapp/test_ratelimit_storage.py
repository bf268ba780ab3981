"""The limiter's storage counts a request and learns its window's expiry in one round trip
(real Redis, the test database), and answers the limit headers from it."""

import time
import uuid

from limits.storage import storage_from_string
from redis import Redis

from tests.conftest import TEST_BROKER_URL
from webapp.ratelimit_storage import OneTripRedisStorage, storage_uri


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
