"""Messages a killed worker had received and not claimed go back to their queue (real Redis
broker, test database); messages of tasks that are running or done stay where they are."""

import json
import subprocess
import sys
import time
import uuid

import sqlalchemy as sa
from kombu import Consumer

from celery_tasks.config import make_celery
from celery_tasks.messages import execute_task_id
from celery_tasks.names import TASKS_QUEUE
from celery_tasks.orphans import restore_orphans
from celery_tasks.send import send_execute
from celery_tasks.settings import BrokerSettings
from db.execution import claim_task
from db.outcomes import complete_task
from db.tasks_repo import NewTask, insert_tasks
from tests.conftest import TEST_BROKER_URL

# A worker node that takes `count` messages and dies with them unacknowledged (SIGKILL, so
# kombu's restore at shutdown never runs), as a node does when its host goes.
DYING_WORKER = """
import os, signal, sys
from kombu import Consumer
from celery_tasks.config import make_celery
from celery_tasks.names import TASKS_QUEUE
from celery_tasks.settings import BrokerSettings
app = make_celery(BrokerSettings(broker_url=sys.argv[1]))
count = int(sys.argv[2])
got = []
with app.connection_for_read() as conn:
    queue = app.amqp.queues[TASKS_QUEUE]
    with Consumer(conn, queues=[queue], callbacks=[lambda b, m: got.append(m)],
                  prefetch_count=count):
        while len(got) < count:
            conn.drain_events(timeout=10)
        os.kill(os.getpid(), signal.SIGKILL)
"""


def _queued_task_ids(app) -> list[str]:
    ids: list[str] = []

    def on_message(body, message) -> None:
        ids.append(body[0][0])
        message.ack()

    with app.connection_for_read() as conn:
        queue = app.amqp.queues[TASKS_QUEUE]
        with Consumer(conn, queues=[queue], callbacks=[on_message]):
            try:
                while True:
                    conn.drain_events(timeout=1)
            except TimeoutError:
                pass
    return ids


def test_only_the_unclaimed_messages_of_a_dead_worker_are_restored(engine, test_broker):
    app = make_celery(BrokerSettings(broker_url=TEST_BROKER_URL))
    with engine.begin() as conn:
        waiting, running, done = insert_tasks(
            conn, [NewTask("echo", {"n": n}, max_attempts=3) for n in range(3)]
        )
        assert claim_task(conn, running.id, 30, "elsewhere/worker:1") is not None
        finished = claim_task(conn, done.id, 30, "elsewhere/worker:1")
        assert finished is not None
        assert complete_task(conn, finished, {"n": 2}, {"n": 2})
    for task in (waiting, running, done):
        send_execute(app, str(task.id), "echo")
    dying = subprocess.run(
        [sys.executable, "-c", DYING_WORKER, TEST_BROKER_URL, "3"], timeout=60, check=False
    )
    assert dying.returncode == -9
    assert test_broker.hlen("unacked") == 3

    # Held for less than the threshold: a live worker may be about to claim them.
    assert restore_orphans(app, engine, after_s=60, limit=100) == 0
    time.sleep(1.5)
    assert restore_orphans(app, engine, after_s=1, limit=100) == 1
    assert test_broker.hlen("unacked") == 2
    assert _queued_task_ids(app) == [str(waiting.id)]
    # Restored once: the next run finds nothing more to do for it.
    assert restore_orphans(app, engine, after_s=1, limit=100) == 0


def test_a_retry_waiting_for_its_backoff_is_left_with_its_worker(engine, test_broker):
    app = make_celery(BrokerSettings(broker_url=TEST_BROKER_URL))
    with engine.begin() as conn:
        (task,) = insert_tasks(conn, [NewTask("echo", {}, max_attempts=3)])
        conn.execute(
            sa.text(
                "UPDATE tasks SET status = 'RETRYING', next_attempt_at = now() + interval '1 hour' "
                "WHERE id = :i"
            ),
            {"i": task.id},
        )
    send_execute(app, str(task.id), "echo")
    dying = subprocess.run(
        [sys.executable, "-c", DYING_WORKER, TEST_BROKER_URL, "1"], timeout=60, check=False
    )
    assert dying.returncode == -9
    time.sleep(1.5)
    assert restore_orphans(app, engine, after_s=1, limit=100) == 0
    assert test_broker.hlen("unacked") == 1


def test_an_entry_that_is_not_an_execute_message_is_not_ours():
    assert execute_task_id(b"not json") is None
    assert execute_task_id(json.dumps([{"headers": {"task": "tasks.reconcile"}}, "", ""])) is None
    assert execute_task_id(json.dumps([{"headers": {"task": "tasks.execute"}}, "", ""])) is None
    valid = uuid.uuid4()
    body = json.dumps([[str(valid)], {}, {}])
    raw = json.dumps(
        [{"headers": {"task": "tasks.execute"}, "body": body, "properties": {}}, "", ""]
    )
    assert execute_task_id(raw) == valid
