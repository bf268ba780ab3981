"""A message lost between Redis and a worker that died with it (taken off its queue, never
recorded as unacknowledged) is published again by the reconciler, and its task completes once,
long before the last-resort rule's hour (celery_tasks/vanished.py)."""

import time
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from redis import Redis

from celery_tasks.messages import queued_task_id
from db.engine import make_engine
from tests.conftest import STACK_DATABASE_URL
from tests.e2e.conftest import submit, wait_for
from tests.e2e.drills import MAINTENANCE_METRICS, metric_total, stopped

# CELERY_TASKS_RECONCILE_VANISHED_AFTER_S of the stack (the default).
VANISHED_AFTER_S = 120


@pytest.fixture(scope="module")
def stack_db() -> Iterator[sa.Engine]:
    engine = make_engine(STACK_DATABASE_URL, app_name="tests")
    yield engine
    engine.dispose()


def _take_off_the_queue(broker: Redis, task_id: uuid.UUID, timeout_s: float) -> None:
    """Remove the task's message from its queue, as a node's BRPOP does, and drop it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for key in broker.scan_iter("tasks*"):
            if broker.type(key) != b"list":
                continue
            for raw in broker.lrange(key, 0, -1):
                if queued_task_id(raw) == task_id:
                    assert broker.lrem(key, 1, raw) == 1
                    return
        time.sleep(0.2)
    raise AssertionError(f"no message for {task_id} reached the queue in {timeout_s}s")


def test_a_message_a_dead_node_took_off_its_queue_is_published_again(
    api, http, stack_db, stack_broker
):
    before = metric_total(MAINTENANCE_METRICS, "reconcile_vanished_redispatched_total")
    with stopped("worker"):
        task = submit(http, {"type": "echo", "payload": {"lost": uuid.uuid4().hex}})
        task_id = uuid.UUID(task["id"])
        _take_off_the_queue(stack_broker, task_id, timeout_s=60)
    taken = time.monotonic()
    views = wait_for(http, [task["id"]], timeout_s=VANISHED_AFTER_S + 90)
    took = time.monotonic() - taken
    assert views[task["id"]]["status"] == "COMPLETED"
    assert views[task["id"]]["attempts"] == 1
    with stack_db.connect() as conn:
        effects, redispatches = conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM task_effects WHERE task_id = :i), redispatches "
                "FROM tasks WHERE id = :i"
            ),
            {"i": task_id},
        ).one()
    assert (effects, redispatches) == (1, 1)
    after = metric_total(MAINTENANCE_METRICS, "reconcile_vanished_redispatched_total")
    assert after - before >= 1
    print(f"a task whose message was lost completed {took:.1f}s after the loss")
