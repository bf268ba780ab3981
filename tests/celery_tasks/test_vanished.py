"""A waiting task whose message is in no Kafka partition left to hand over, no queue and no
worker's `unacked` is published again; one that is in any of them is left alone (real Redis
broker, real Kafka, test database)."""

import json
import subprocess
import sys
import uuid

import pytest
import sqlalchemy as sa
from confluent_kafka import Producer

from celery_tasks.config import make_celery
from celery_tasks.names import TASKS_QUEUE
from celery_tasks.send import send_execute
from celery_tasks.settings import BrokerSettings
from celery_tasks.vanished import redispatch_vanished_tasks
from db.tasks_repo import NewTask, insert_tasks
from db.topics import PARTITIONER, key_partition
from tests.celery_tasks.test_orphans import DYING_WORKER
from tests.conftest import KAFKA, TEST_BROKER_URL

# Old enough for the rule, and older than the leftovers other tests leave in the database.
QUIET = "interval '30 days'"
AFTER_S = 20 * 24 * 3600.0


@pytest.fixture
def app():
    return make_celery(BrokerSettings(broker_url=TEST_BROKER_URL))


def _quiet_tasks(engine: sa.Engine, count: int, *, status: str = "PENDING") -> list[uuid.UUID]:
    """Tasks published long ago (no outbox row) and not heard of since."""
    with engine.begin() as conn:
        tasks = insert_tasks(
            conn, [NewTask("echo", {"n": n}, max_attempts=3) for n in range(count)]
        )
        ids = [t.id for t in tasks]
        conn.execute(
            sa.text("DELETE FROM outbox WHERE key = ANY(:k)"), {"k": [str(i) for i in ids]}
        )
        conn.execute(
            sa.text(
                f"UPDATE tasks SET status = :s, updated_at = now() - {QUIET}, "
                f"next_attempt_at = CASE WHEN :s = 'RETRYING' THEN now() - {QUIET} END "
                "WHERE id = ANY(:i)"
            ),
            {"s": status, "i": ids},
        )
    return ids


def _republished(engine: sa.Engine, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Each task's outbox rows for the `tasks` topic (a re-publication each)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT key, count(*) AS n FROM outbox WHERE topic = 'tasks' AND key = ANY(:k) "
                "GROUP BY key"
            ),
            {"k": [str(i) for i in ids]},
        )
        found = {uuid.UUID(r.key): r.n for r in rows}
    return {i: found.get(i, 0) for i in ids}


def _run(app, engine, kafka_admin, topic: str, *, scan_limit: int = 1000, **options) -> int:
    return redispatch_vanished_tasks(
        app,
        engine,
        kafka_admin,
        bridge_group=f"it-bridge-{uuid.uuid4().hex[:8]}",
        topic=topic,
        after_s=AFTER_S,
        scan_limit=scan_limit,
        batch=100_000,
        settle_s=0.1,
        **options,
    )


def test_waiting_tasks_found_nowhere_are_published_again_once(
    app, engine, kafka_admin, topic, test_broker, clean_outbox
):
    pending, retrying = _quiet_tasks(engine, 1) + _quiet_tasks(engine, 1, status="RETRYING")
    # An empty topic: the bridges have handed over everything of every partition.
    assert _run(app, engine, kafka_admin, topic) >= 2
    assert _republished(engine, [pending, retrying]) == {pending: 1, retrying: 1}
    with engine.connect() as conn:
        redispatches = conn.execute(
            sa.text("SELECT redispatches FROM tasks WHERE id = ANY(:i)"),
            {"i": [pending, retrying]},
        ).scalars()
        assert list(redispatches) == [1, 1]
    # Just re-published: news for the rule, so the next run leaves them.
    _run(app, engine, kafka_admin, topic)
    assert _republished(engine, [pending, retrying]) == {pending: 1, retrying: 1}


def test_tasks_with_a_message_queued_or_held_by_a_worker_are_left_alone(
    app, engine, kafka_admin, topic, test_broker, clean_outbox
):
    queued, urgent, held, lost = _quiet_tasks(engine, 4)
    send_execute(app, str(held), "echo")
    dying = subprocess.run(
        [sys.executable, "-c", DYING_WORKER, TEST_BROKER_URL, "1"], timeout=60, check=False
    )
    assert dying.returncode == -9
    assert test_broker.hlen("unacked") == 1
    send_execute(app, str(queued), "echo")
    # Another priority is another Redis list of the same queue.
    send_execute(app, str(urgent), "echo", priority=9)
    _run(app, engine, kafka_admin, topic)
    assert _republished(engine, [queued, urgent, held, lost]) == {
        queued: 0,
        urgent: 0,
        held: 0,
        lost: 1,
    }


def test_a_task_whose_partition_the_bridges_have_not_passed_is_left_alone(
    app, engine, kafka_admin, topic, test_broker, clean_outbox
):
    waiting, lost = _quiet_tasks(engine, 2)
    while key_partition(str(lost), 4) == key_partition(str(waiting), 4):
        (lost,) = _quiet_tasks(engine, 1)
    # The relay's partitioner puts each key where key_partition says it does.
    producer = Producer({"bootstrap.servers": KAFKA, "partitioner": PARTITIONER})
    delivered: dict[str, int] = {}
    keys = [str(waiting)] + [str(uuid.uuid4()) for _ in range(40)]
    for key in keys:
        producer.produce(
            topic,
            key=key,
            value=b"{}",
            on_delivery=lambda err, msg: delivered.__setitem__(msg.key().decode(), msg.partition()),
        )
    assert producer.flush(20) == 0
    assert delivered == {key: key_partition(key, 4) for key in keys}
    # A fresh group has committed nothing: `waiting`'s record may still be on its way.
    _run(app, engine, kafka_admin, topic)
    republished = _republished(engine, [waiting, lost])
    assert republished[waiting] == 0
    # `lost` is published again unless the random keys put a record on its partition too.
    assert republished[lost] == (0 if key_partition(str(lost), 4) in delivered.values() else 1)


def test_nothing_is_looked_for_behind_more_messages_than_the_scan_limit(
    app, engine, kafka_admin, topic, test_broker, clean_outbox
):
    (lost,) = _quiet_tasks(engine, 1)
    for _ in range(3):
        send_execute(app, str(uuid.uuid4()), "echo")
    _run(app, engine, kafka_admin, topic, scan_limit=2)
    assert _republished(engine, [lost]) == {lost: 0}
    _run(app, engine, kafka_admin, topic, scan_limit=3)
    assert _republished(engine, [lost]) == {lost: 1}


def test_a_message_a_live_worker_is_taking_is_seen_by_the_second_look(
    app, engine, kafka_admin, topic, test_broker, clean_outbox
):
    (taking,) = _quiet_tasks(engine, 1)
    send_execute(app, str(taking), "echo")
    # A worker's BRPOP has just taken the message off its queue...
    (key,) = [k for k in test_broker.scan_iter("tasks*") if test_broker.type(k) == b"list"]
    raw = test_broker.rpop(key)

    def worker_records_it(_seconds: float) -> None:
        # ...and records it in `unacked` while the reconciler waits between its two looks.
        test_broker.hset("unacked", "tag-1", json.dumps([json.loads(raw), "", TASKS_QUEUE]))

    _run(app, engine, kafka_admin, topic, pause=worker_records_it)
    assert _republished(engine, [taking]) == {taking: 0}
