"""The relay publishes committed outbox rows to a real Kafka broker and leaves the rest."""

import contextlib
import json
import threading
import time
import uuid

import sqlalchemy as sa
from confluent_kafka import Consumer

from db.ids import uuid7
from db.models import outbox_table
from db.outbox import outbox_row, parked_rows, unpark
from db.tasks_repo import NewTask, insert_tasks
from relay.kafka import make_producer
from relay.relay import Relay
from relay.settings import RelaySettings
from tests.conftest import KAFKA


def _consume_all(topic: str, expected: int, timeout_s: float = 20.0) -> list:
    consumer = Consumer(
        {
            "bootstrap.servers": KAFKA,
            "group.id": f"it-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    records = []
    deadline = time.monotonic() + timeout_s
    while len(records) < expected and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error() is None:
            records.append(msg)
    # Drain a little longer so an unexpected extra record would be seen too.
    extra_deadline = time.monotonic() + 2
    while time.monotonic() < extra_deadline:
        msg = consumer.poll(0.2)
        if msg is not None and msg.error() is None:
            records.append(msg)
    consumer.close()
    return records


def _relay(engine, **overrides) -> Relay:
    settings = RelaySettings(kafka_bootstrap_servers=KAFKA, **overrides)
    producer = make_producer(KAFKA, delivery_timeout_ms=10000, linger_ms=1)
    return Relay(engine, producer, settings)


def _outbox_ids(engine) -> list[int]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.select(outbox_table.c.id))]


def test_relay_publishes_committed_rows_with_key_and_headers(engine, topic, clean_outbox):
    keys = [uuid7() for _ in range(5)]
    with engine.begin() as conn:
        conn.execute(
            sa.insert(outbox_table),
            [outbox_row(topic, k, {"id": str(k), "n": i}, f"corr-{i}") for i, k in enumerate(keys)],
        )
    outcome = _relay(engine).publish_batch()
    assert outcome.claimed == 5
    assert len(outcome.delivered) == 5
    assert outcome.errors == []
    assert _outbox_ids(engine) == []
    records = _consume_all(topic, 5)
    assert len(records) == 5
    by_key = {m.key().decode(): m for m in records}
    assert set(by_key) == {str(k) for k in keys}
    for i, k in enumerate(keys):
        msg = by_key[str(k)]
        assert json.loads(msg.value()) == {"id": str(k), "n": i}
        assert dict(msg.headers()) == {"correlation_id": f"corr-{i}".encode()}


def test_relay_leaves_uncommitted_rows_alone(engine, topic, clean_outbox):
    key = uuid7()
    started = threading.Event()
    release = threading.Event()

    def open_transaction() -> None:
        with engine.begin() as conn:
            conn.execute(sa.insert(outbox_table), [outbox_row(topic, key, {"id": str(key)}, None)])
            started.set()
            release.wait(30)
            raise RuntimeError("roll back")

    writer = threading.Thread(target=lambda: _swallow(open_transaction))
    writer.start()
    assert started.wait(10)
    outcome = _relay(engine).publish_batch()
    assert outcome.claimed == 0
    release.set()
    writer.join(10)
    assert _outbox_ids(engine) == []
    assert _consume_all(topic, 1, timeout_s=3) == []


def _swallow(fn) -> None:
    with contextlib.suppress(RuntimeError):
        fn()


def test_submission_writes_task_and_outbox_row_in_one_transaction(engine, clean_outbox):
    with engine.begin() as conn:
        (task,) = insert_tasks(
            conn, [NewTask(type="echo", payload={"x": 1}, max_attempts=4, correlation_id="c-9")]
        )
        pending = conn.execute(sa.select(outbox_table)).mappings().all()
    assert len(pending) == 1
    assert pending[0]["key"] == str(task.id)
    assert pending[0]["value"]["type"] == "echo"
    assert pending[0]["headers"] == {"correlation_id": "c-9"}
    assert pending[0]["topic"] == "tasks"


def test_rolled_back_submission_leaves_neither_task_nor_outbox_row(engine, clean_outbox):
    with contextlib.suppress(RuntimeError), engine.begin() as conn:
        (task,) = insert_tasks(conn, [NewTask(type="echo", payload={}, max_attempts=4)])
        raise RuntimeError("client went away")
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT count(*) FROM tasks WHERE id = :id"), {"id": task.id})
        assert found.scalar_one() == 0
    assert _outbox_ids(engine) == []


def test_relay_keeps_rows_when_kafka_is_unreachable(engine, clean_outbox):
    key = uuid7()
    with engine.begin() as conn:
        conn.execute(sa.insert(outbox_table), [outbox_row("tasks", key, {"id": str(key)}, None)])
    settings = RelaySettings(kafka_bootstrap_servers="127.0.0.1:1", delivery_timeout_ms=2000)
    producer = make_producer("127.0.0.1:1", delivery_timeout_ms=2000, linger_ms=1)
    outcome = Relay(engine, producer, settings).publish_batch()
    assert outcome.claimed == 1
    assert outcome.delivered == []
    assert outcome.errors
    assert len(_outbox_ids(engine)) == 1


def test_an_unproducible_record_is_parked_and_the_rows_behind_it_are_published(
    engine, topic, clean_outbox
):
    big, after = uuid7(), [uuid7() for _ in range(3)]
    with engine.begin() as conn:
        rows = [
            outbox_row(topic, big, {"id": str(big), "blob": "ж" * 600_000}, "big"),
            outbox_row("no-such-topic-" + uuid.uuid4().hex[:8], uuid7(), {"id": "x"}, None),
            *[outbox_row(topic, k, {"id": str(k)}, None) for k in after],
        ]
        conn.execute(sa.insert(outbox_table), rows)
    relay = _relay(engine)
    outcome = relay.publish_batch()
    assert len(outcome.delivered) == 3
    assert len(outcome.parked) == 2
    assert not outcome.errors
    records = _consume_all(topic, 3)
    assert sorted(r.key().decode() for r in records) == sorted(str(k) for k in after)
    with engine.connect() as conn:
        parked = parked_rows(conn)
        left = conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one()
    reasons = {p.key: p.reason for p in parked}
    assert "exceeds the limit" in reasons[str(big)]
    assert any("does not exist" in r for r in reasons.values())
    assert left == 2
    # A parked row is not claimed again; an operator puts it back in line.
    assert relay.publish_batch().claimed == 0
    with engine.begin() as conn:
        assert unpark(conn, [p.id for p in parked if p.key == str(big)]) == 1
    assert relay.publish_batch().claimed == 1
