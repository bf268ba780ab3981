"""Retries, fencing, locks, the dead-letter topic and the reconciler, on the running stack."""

import json
import os
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

import pytest
import requests
import sqlalchemy as sa
from confluent_kafka import Producer

from celery_tasks.config import make_celery
from celery_tasks.ownership import owner_pid
from celery_tasks.send import send_execute
from celery_tasks.settings import BrokerSettings
from db.engine import make_engine
from db.wire import task_value
from taskctl.dlt_topic import read_dlt
from tests.conftest import KAFKA, STACK_DATABASE_URL
from tests.e2e.conftest import STACK_BROKER_URL, get, stack, submit, wait_for


@pytest.fixture(scope="module")
def stack_db() -> Iterator[sa.Engine]:
    engine = make_engine(STACK_DATABASE_URL, app_name="tests")
    yield engine
    engine.dispose()


def effects_of(engine: sa.Engine, task_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM task_effects WHERE task_id = :id"), {"id": task_id}
        ).scalar_one()


def dlt_records(task_id: str, expected: int = 1, timeout_s: float = 20.0) -> list[Any]:
    """The task's DLT records, waiting until at least `expected` were published."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [r for r in read_dlt(KAFKA) if r.task_id == task_id]
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def watch_retries(http: requests.Session, task_id: str, timeout_s: float) -> dict[int, float]:
    """Planned delay after each failed attempt, read from the task while it is RETRYING."""
    delays: dict[int, float] = {}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        view = get(http, task_id)
        if view["status"] == "RETRYING" and view["next_attempt_at"]:
            planned = _ts(view["next_attempt_at"]) - _ts(view["updated_at"])
            delays.setdefault(view["attempts"], planned)
        if view["status"] in {"COMPLETED", "FAILED"}:
            break
        time.sleep(0.05)
    return delays


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_fail_twice_completes_on_third_attempt_with_growing_delays(api, http):
    task = submit(http, {"type": "fail", "payload": {"times": 2}})
    delays = watch_retries(http, task["id"], timeout_s=60)
    view = wait_for(http, [task["id"]], timeout_s=30)[task["id"]]
    assert view["status"] == "COMPLETED"
    assert view["attempts"] == 3
    assert view["result"] == {"failed_attempts": 2, "succeeded_on_attempt": 3}
    assert sorted(delays) == [1, 2]
    # Exponential backoff with equal jitter: the first delay lies in [1, 2] s, the second in
    # [2, 4] s (factor 2 s), so the second never comes sooner than the first.
    assert 1.0 <= delays[1] <= 2.05
    assert 2.0 <= delays[2] <= 4.05
    assert delays[2] >= delays[1]


def test_fail_ten_times_ends_failed_after_four_attempts_with_one_dlt_record(api, http):
    task = submit(
        http, {"type": "fail", "payload": {"times": 10}}, **{"X-Correlation-Id": "dlt-10"}
    )
    view = wait_for(http, [task["id"]], timeout_s=60)[task["id"]]
    assert view["status"] == "FAILED"
    assert view["attempts"] == 4
    assert view["error_type"] == "RetryableError"
    dlt_records(task["id"])
    # Give a duplicate record time to appear, if one were ever published.
    time.sleep(2)
    records = dlt_records(task["id"])
    assert len(records) == 1
    record = records[0]
    assert record.attempts == 4
    assert record.error_type == "RetryableError"
    assert "transient failure 4 of 10" in (record.error or "")
    assert record.correlation_id == "dlt-10"
    assert record.failed_at is not None


def test_permanent_failure_skips_retries(api, http):
    task = submit(http, {"type": "fail", "payload": {"permanent": True}})
    view = wait_for(http, [task["id"]], timeout_s=30)[task["id"]]
    assert (view["status"], view["attempts"], view["error_type"]) == ("FAILED", 1, "PermanentError")
    assert len(dlt_records(task["id"])) == 1


def test_max_attempts_of_the_submission_bounds_retries(api, http):
    task = submit(http, {"type": "fail", "payload": {"times": 10}, "max_attempts": 2})
    view = wait_for(http, [task["id"]], timeout_s=30)[task["id"]]
    assert (view["status"], view["attempts"]) == ("FAILED", 2)


def test_duplicate_celery_messages_run_the_handler_once(api, http, stack_db):
    app = make_celery(BrokerSettings(broker_url=STACK_BROKER_URL))
    task = submit(http, {"type": "sleep", "payload": {"seconds": 2}})
    # Two more deliveries while the first attempt runs, one after it finished.
    wait_for(http, [task["id"]], done=lambda t: t["status"] == "PROCESSING", timeout_s=30)
    send_execute(app, task["id"], "sleep")
    send_execute(app, task["id"], "sleep")
    view = wait_for(http, [task["id"]], timeout_s=30)[task["id"]]
    send_execute(app, task["id"], "sleep")
    time.sleep(3)
    view = get(http, task["id"])
    assert (view["status"], view["attempts"]) == ("COMPLETED", 1)
    assert effects_of(stack_db, task["id"]) == 1


def test_replayed_kafka_record_runs_the_handler_once(api, http, stack_db):
    task = submit(http, {"type": "echo", "payload": {"replay": True}})
    view = wait_for(http, [task["id"]], timeout_s=30)[task["id"]]
    assert view["status"] == "COMPLETED"
    value = task_value(UUID(task["id"]), datetime.fromisoformat(view["created_at"]), "echo", 0)
    producer = Producer({"bootstrap.servers": KAFKA, "enable.idempotence": True, "acks": "all"})
    for _ in range(3):
        producer.produce("tasks", key=task["id"], value=json.dumps(value))
    assert producer.flush(10) == 0
    time.sleep(4)
    view = get(http, task["id"])
    assert (view["status"], view["attempts"]) == ("COMPLETED", 1)
    assert effects_of(stack_db, task["id"]) == 1


def _lease_owner_pid(engine: sa.Engine, task_id: str) -> int:
    with engine.connect() as conn:
        owner = conn.execute(
            sa.text("SELECT lease_owner FROM tasks WHERE id = :id"), {"id": task_id}
        ).scalar_one()
    pid = owner_pid(owner)
    assert pid is not None, owner
    return pid


def test_killed_worker_child_mid_task_still_completes(api, http, stack_db):
    task = submit(http, {"type": "sleep", "payload": {"seconds": 4}})
    wait_for(http, [task["id"]], done=lambda t: t["status"] == "PROCESSING", timeout_s=30)
    os.kill(_lease_owner_pid(stack_db, task["id"]), signal.SIGKILL)
    view = wait_for(http, [task["id"]], timeout_s=90)[task["id"]]
    assert view["status"] == "COMPLETED"
    assert 2 <= view["attempts"] <= view["max_attempts"]
    assert effects_of(stack_db, task["id"]) == 1


def test_task_that_kills_its_worker_every_time_ends_failed_in_the_dlt(api, http):
    task = submit(http, {"type": "crash", "payload": {}})
    view = wait_for(http, [task["id"]], timeout_s=120)[task["id"]]
    assert (view["status"], view["attempts"], view["error_type"]) == (
        "FAILED",
        4,
        "WorkerLostError",
    )
    assert len(dlt_records(task["id"])) == 1


def test_reconciler_completes_tasks_whose_celery_messages_were_flushed(api, http, stack_broker):
    stack("stop", "worker")
    try:
        ids = [submit(http, {"type": "echo", "payload": {"n": n}})["id"] for n in range(30)]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            queued = sum(stack_broker.llen(k) for k in stack_broker.keys("tasks*"))
            if queued >= 30:
                break
            time.sleep(0.2)
        assert queued >= 30
        stack_broker.flushdb()
    finally:
        stack("start", "worker")
    views = wait_for(http, ids, timeout_s=150)
    assert {v["status"] for v in views.values()} == {"COMPLETED"}
    assert {v["attempts"] for v in views.values()} == {1}
