"""Shared fixtures. Integration tests use the real services of the local stack
(`ops/stack.sh up`); when one is missing they fail, they never skip."""

import gc
import os
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec
from redis import Redis

from db.engine import make_engine
from db.migrate import upgrade

STACK_DATABASE_URL = os.environ.get(
    "DATABASE_URL", "postgresql+psycopg://tasks:tasks@127.0.0.1:5432/tasks"
)
KAFKA = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# Integration tests get a database and a Redis database of their own, so the running stack's
# relay and workers never see their rows or messages.
# TEST_DATABASE / TEST_BROKER_DB let two checkouts run their integration tests side by side.
TEST_DATABASE = os.environ.get("TEST_DATABASE", "tasks_it")
TEST_BROKER_URL = f"redis://127.0.0.1:6379/{os.environ.get('TEST_BROKER_DB', '5')}"


def _admin_conninfo(url: str) -> str:
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(False)


@pytest.fixture(scope="module", autouse=True)
def _collect_what_the_module_left() -> Iterator[None]:
    """Collect garbage at the end of each module. A client a test forgot to close (a pool's
    connection, say) warns when it is collected, and warnings are errors here: collected at a
    moment of the collector's choosing, it fails whichever test runs then; collected here, it
    fails the module that leaked it."""
    yield
    gc.collect()


@pytest.fixture(scope="session")
def it_database_url() -> str:
    """URL of the integration-test database, created and migrated once per session."""
    base = sa.engine.make_url(STACK_DATABASE_URL)
    with psycopg.connect(_admin_conninfo(STACK_DATABASE_URL), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (TEST_DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{TEST_DATABASE}"')
    url = base.set(database=TEST_DATABASE).render_as_string(hide_password=False)
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(it_database_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(it_database_url, app_name="tests")
    yield eng
    eng.dispose()


@pytest.fixture
def clean_outbox(engine: sa.Engine) -> Iterator[None]:
    """Start and end the test with an empty outbox in the test database."""
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM outbox"))
    yield
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM outbox"))


@pytest.fixture(scope="session")
def kafka_admin() -> AdminClient:
    return AdminClient({"bootstrap.servers": KAFKA})


@pytest.fixture
def topic(kafka_admin: AdminClient) -> Iterator[str]:
    """A fresh 4-partition topic for one test, deleted afterwards."""
    name = f"it-{uuid.uuid4().hex[:12]}"
    for future in kafka_admin.create_topics(
        [NewTopic(name, num_partitions=4, replication_factor=1)], operation_timeout=30
    ).values():
        future.result(timeout=30)
    _wait_until_served(name, 4)
    yield name
    for future in kafka_admin.delete_topics([name], operation_timeout=30).values():
        future.result(timeout=30)


def _wait_until_served(topic: str, partitions: int) -> None:
    """Wait until the broker answers offsets of every partition: a topic just created can
    still be unknown to its partition leaders for a moment (UNKNOWN_TOPIC_OR_PART). Each try
    asks through a new client, since a client keeps metadata that named no leader yet."""
    deadline = time.monotonic() + 60
    specs = {TopicPartition(topic, p): OffsetSpec.latest() for p in range(partitions)}
    while True:
        probe = AdminClient({"bootstrap.servers": KAFKA})
        try:
            for future in probe.list_offsets(specs, request_timeout=10).values():
                future.result()
            return
        except KafkaException as err:
            assert time.monotonic() < deadline, f"topic {topic} not served after 60s: {err}"
        time.sleep(0.5)


@pytest.fixture
def test_broker() -> Iterator[Redis]:
    """The Redis database the integration tests use as a Celery broker, emptied around each."""
    client = Redis.from_url(TEST_BROKER_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()
