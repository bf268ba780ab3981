"""The Executor against the real test database and Redis, driven without a Celery worker.

The task object handed in is a small double of Celery's bound task (its request and retry);
the database, the Redis lock and the handler are real.
"""

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from celery.exceptions import Retry, SoftTimeLimitExceeded

from celery_tasks.attempt_lock import take_lock
from celery_tasks.execute import Executor, outcome_text
from celery_tasks.ownership import owner_for
from celery_tasks.registry import HandlerContext, Registry
from celery_tasks.runtime import WorkerResources
from celery_tasks.settings import WorkerSettings
from db.execution import claim_task
from db.tasks_repo import NewTask, insert_tasks
from tests.conftest import REDIS_URL


@dataclass
class Request:
    timelimit: tuple[int | None, int | None] = (None, None)


@dataclass
class BoundTask:
    request: Request = field(default_factory=Request)
    retries: list[dict[str, Any]] = field(default_factory=list)

    def retry(self, **kwargs: Any) -> Retry:
        self.retries.append(kwargs)
        return Retry("retry", exc=kwargs.get("exc"), when=kwargs.get("countdown"))


calls: list[int] = []
handlers = Registry()


@handlers.handler("ok")
def ok(payload: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    calls.append(ctx.attempt)
    return {"attempt": ctx.attempt}


@handlers.handler("slow")
def slow(payload: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    raise SoftTimeLimitExceeded()


@handlers.handler("nap")
def nap(payload: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    time.sleep(float(payload.get("seconds", 1.5)))
    return {"napped": True}


@handlers.handler("buggy")
def buggy(payload: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    return {"x": 1 // 0}


@pytest.fixture
def executor(it_database_url: str) -> Iterator[Executor]:
    settings = WorkerSettings(database_url=it_database_url, redis_url=REDIS_URL)
    resources = WorkerResources(settings)
    yield Executor(resources, handlers)
    resources.close()


def submit(engine: sa.Engine, task_type: str, max_attempts: int = 4) -> str:
    with engine.begin() as conn:
        (task,) = insert_tasks(conn, [NewTask(task_type, {}, max_attempts=max_attempts)])
    return str(task.id)


def status(engine: sa.Engine, task_id: str) -> tuple[str, int, str | None]:
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT status, attempts, error_type FROM tasks WHERE id = :i"), {"i": task_id}
        ).one()
    return row.status, row.attempts, row.error_type


def test_success_then_a_duplicate_delivery_runs_nothing(executor, engine):
    task_id = submit(engine, "ok")
    calls.clear()
    assert executor.deliver(BoundTask(), task_id) == {"status": "completed", "attempt": 1}
    # The completed task keeps its lock until the lock expires: a duplicate stops there.
    lock_key = f"taskservice:lock:{task_id}"
    ttl_ms = executor.resources.redis.pttl(lock_key)
    assert 0 < ttl_ms <= executor.settings.lease_s * 1000
    assert executor.deliver(BoundTask(), task_id) == {"status": "locked"}
    # Once it expired, the claim stops the duplicate.
    executor.resources.redis.delete(lock_key)
    assert executor.deliver(BoundTask(), task_id) == {"status": "duplicate"}
    assert calls == [1]
    assert status(engine, task_id) == ("COMPLETED", 1, None)


def test_every_outcome_but_completed_releases_the_lock(executor, engine):
    lock_key = "taskservice:lock:{}"
    failed = submit(engine, "buggy")
    assert executor.deliver(BoundTask(), failed)["status"] == "failed"
    assert not executor.resources.redis.exists(lock_key.format(failed))
    retried = submit(engine, "slow")
    with pytest.raises(Retry):
        executor.deliver(BoundTask(), retried)
    assert not executor.resources.redis.exists(lock_key.format(retried))


def test_soft_time_limit_is_a_retryable_error_with_backoff(executor, engine):
    task_id = submit(engine, "slow")
    task = BoundTask()
    with pytest.raises(Retry):
        executor.deliver(task, task_id)
    assert status(engine, task_id) == ("RETRYING", 1, "HandlerTimeoutError")
    assert 1.0 <= task.retries[0]["countdown"] <= 2.0


def test_unexpected_handler_error_is_permanent(executor, engine):
    task_id = submit(engine, "buggy")
    assert executor.deliver(BoundTask(), task_id)["status"] == "failed"
    assert status(engine, task_id) == ("FAILED", 1, "ZeroDivisionError")


def test_last_retryable_failure_fails_without_another_retry(executor, engine):
    task_id = submit(engine, "slow", max_attempts=1)
    task = BoundTask()
    assert executor.deliver(task, task_id)["status"] == "failed"
    assert task.retries == []
    assert status(engine, task_id) == ("FAILED", 1, "HandlerTimeoutError")


def test_a_held_lock_makes_the_delivery_a_counted_duplicate(executor, engine):
    task_id = submit(engine, "ok")
    lock = executor.resources.redis.lock(f"taskservice:lock:{task_id}", timeout=30)
    assert lock.acquire(blocking=False, token=f"{owner_for(1)}|held")
    try:
        assert executor.deliver(BoundTask(), task_id) == {"status": "locked"}
    finally:
        lock.release()
    assert status(engine, task_id) == ("PENDING", 0, None)


def test_lock_of_a_dead_local_process_is_broken_and_its_attempt_taken_over(executor, engine):
    task_id = submit(engine, "ok")
    dead = subprocess.Popen(["true"])
    dead.wait()
    owner = owner_for(dead.pid)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE tasks SET status = 'PROCESSING', attempts = 1, lease_owner = :o, "
                "lease_token = gen_random_uuid(), lease_expires_at = now() + interval '1 hour' "
                "WHERE id = :i"
            ),
            {"o": owner, "i": task_id},
        )
    executor.resources.redis.set(f"taskservice:lock:{task_id}", f"{owner}|x", ex=3600)
    assert executor.deliver(BoundTask(), task_id) == {"status": "completed", "attempt": 2}
    assert status(engine, task_id) == ("COMPLETED", 2, None)


def test_invalid_task_id_is_dropped(executor):
    assert executor.deliver(BoundTask(), "not-an-id") == {"status": "invalid"}


def test_an_early_delivery_of_a_retrying_task_waits_for_its_backoff(executor, engine):
    task_id = submit(engine, "slow")
    with pytest.raises(Retry):
        executor.deliver(BoundTask(), task_id)
    assert status(engine, task_id)[0] == "RETRYING"
    early = BoundTask()
    with pytest.raises(Retry):
        executor.deliver(early, task_id)
    # Deferred to the task's next attempt, which is not spent now.
    assert status(engine, task_id) == ("RETRYING", 1, "HandlerTimeoutError")
    assert early.retries[0]["max_retries"] is None
    assert 0 < early.retries[0]["countdown"] <= 2.0


def test_a_running_attempt_keeps_its_short_lease_alive(it_database_url, engine):
    settings = WorkerSettings(
        database_url=it_database_url, redis_url=REDIS_URL, lease_s=1.0, heartbeat_interval_s=0.2
    )
    resources = WorkerResources(settings)
    executor = Executor(resources, handlers)
    task_id = submit(engine, "nap")
    results: list[dict[str, Any]] = []
    runner = threading.Thread(target=lambda: results.append(executor.deliver(BoundTask(), task_id)))
    runner.start()
    try:
        time.sleep(1.3)
        # Past the lease's length: without renewal the attempt would count as lost by now.
        with engine.begin() as conn:
            expired = conn.execute(
                sa.text("SELECT lease_expires_at < now() FROM tasks WHERE id = :i"),
                {"i": task_id},
            ).scalar_one()
            taken = claim_task(conn, uuid.UUID(task_id), 1.0, "other-host/other:1")
        assert expired is False
        assert taken is None
    finally:
        runner.join(10)
        resources.close()
    assert results == [{"status": "completed", "attempt": 1}]
    assert status(engine, task_id) == ("COMPLETED", 1, None)


def test_the_lock_client_reconnects_after_its_connection_is_dropped(executor, engine):
    # The lock client holds one connection (celery_tasks/runtime.py); a Redis restart or a
    # killed connection must cost a reconnect, not the delivery.
    client = executor.resources.redis
    client.ping()
    admin = redis.Redis.from_url(REDIS_URL)
    try:
        assert admin.client_kill_filter(_id=client.client_id()) == 1
    finally:
        admin.close()
    task_id = submit(engine, "ok")
    assert executor.deliver(BoundTask(), task_id) == {"status": "completed", "attempt": 1}
    assert executor.resources.redis.exists(f"taskservice:lock:{task_id}")


def test_a_lock_already_set_with_this_deliverys_token_is_held(executor):
    # A SET NX whose reply was lost and was retried finds the lock set with its own token.
    client = executor.resources.redis
    name = f"taskservice:lock:{uuid.uuid4()}"
    token = f"{owner_for(os.getpid())}|retried"
    client.set(name, token, px=30_000)
    lock = client.lock(name, timeout=30, blocking=False, thread_local=False)
    assert take_lock(client, lock, name, token)
    assert lock.owned()
    lock.release()
    assert not client.exists(name)
    # Another delivery's token is not ours: the lock stays with its holder.
    client.set(name, f"{owner_for(os.getpid())}|other", px=30_000)
    other = client.lock(name, timeout=30, blocking=False, thread_local=False)
    assert not take_lock(client, other, name, token)
    client.delete(name)


def test_the_execute_task_returns_its_outcome_as_short_text():
    assert outcome_text({"status": "completed", "attempt": 2}) == "completed (attempt 2)"
    assert outcome_text({"status": "locked"}) == "locked"
    assert outcome_text({"status": "stale", "attempt": 1}) == "stale (attempt 1)"
