"""The reconciler re-publishes only what is lost: after the broker's epoch changed, or after a
wait no live broker explains, with a backoff per task; never a task merely queued."""

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from db import epoch
from db.execution import claim_task, task_state
from db.outcomes import schedule_retry
from db.reconcile import reconcile
from db.tasks_repo import NewTask, insert_tasks

OWNER = "test-host/test-table:1"
# Larger than every waiting row other tests may have left in the shared test database.
BATCH = 100_000


@pytest.fixture
def fresh_state(engine: sa.Engine) -> Iterator[None]:
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM reconciler_state"))
    yield
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM reconciler_state"))


def published_task(engine: sa.Engine, age: str = "10 min") -> uuid.UUID:
    """A PENDING task whose `tasks` record left the outbox `age` ago (it waits in a queue)."""
    with engine.begin() as conn:
        (task,) = insert_tasks(conn, [NewTask("echo", {}, max_attempts=4)])
        conn.execute(sa.text("DELETE FROM outbox WHERE key = :k"), {"k": str(task.id)})
        conn.execute(
            sa.text(f"UPDATE tasks SET updated_at = now() - interval '{age}' WHERE id = :i"),
            {"i": task.id},
        )
    return task.id


def queued_copies(engine: sa.Engine, task_id: uuid.UUID) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM outbox WHERE key = :k"), {"k": str(task_id)}
            ).scalar_one()
        )


def run(engine: sa.Engine, broker_epoch: str | None, lost_after_s: float = 3600):
    with engine.begin() as conn:
        return reconcile(conn, broker_epoch=broker_epoch, lost_after_s=lost_after_s, batch=BATCH)


def test_a_task_waiting_behind_a_long_queue_is_never_republished(engine, clean_outbox, fresh_state):
    task_id = published_task(engine, age="50 min")
    for _ in range(3):
        report = run(engine, "epoch-a")
        assert not report.broker_lost
    assert queued_copies(engine, task_id) == 0


def test_a_changed_broker_epoch_republishes_every_waiting_task_once(
    engine, clean_outbox, fresh_state
):
    waiting = published_task(engine, age="1 s")
    with engine.begin() as conn:
        # Not yet published: the relay will send it; the reconciler must not add a copy.
        (unpublished,) = insert_tasks(conn, [NewTask("echo", {}, max_attempts=4)])
    first_seen = run(engine, "epoch-a")
    assert not first_seen.broker_lost
    assert queued_copies(engine, waiting) == 0
    lost = run(engine, "epoch-b")
    assert lost.broker_lost
    assert lost.lost_redispatched >= 1
    assert queued_copies(engine, waiting) == 1
    assert queued_copies(engine, unpublished.id) == 1
    again = run(engine, "epoch-b")
    assert not again.broker_lost
    assert again.lost_redispatched == 0
    assert queued_copies(engine, waiting) == 1
    with engine.connect() as conn:
        assert epoch.lost_before(conn) is None


def test_the_last_resort_backs_off_twice_as_long_each_time(engine, clean_outbox, fresh_state):
    task_id = published_task(engine, age="3 min")
    first = run(engine, None, lost_after_s=60)
    assert first.pending_redispatched >= 1
    assert queued_copies(engine, task_id) == 1
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM outbox WHERE key = :k"), {"k": str(task_id)})
        # 90 s later: past the first wait (60 s), not past the second (120 s).
        conn.execute(
            sa.text("UPDATE tasks SET updated_at = now() - interval '90 s' WHERE id = :i"),
            {"i": task_id},
        )
    run(engine, None, lost_after_s=60)
    assert queued_copies(engine, task_id) == 0
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE tasks SET updated_at = now() - interval '130 s' WHERE id = :i"),
            {"i": task_id},
        )
    run(engine, None, lost_after_s=60)
    assert queued_copies(engine, task_id) == 1


def test_a_retrying_task_cannot_be_claimed_before_its_next_attempt(engine, clean_outbox):
    with engine.begin() as conn:
        (task,) = insert_tasks(conn, [NewTask("echo", {}, max_attempts=4)])
        claim = claim_task(conn, task.id, 30, OWNER)
        assert claim is not None
        assert str(schedule_retry(conn, claim, "e", "RetryableError", 60)) == "RETRYING"
        assert claim_task(conn, task.id, 30, OWNER) is None
        state = task_state(conn, task.id)
        assert state is not None
        assert 55 < state.due_in_s <= 60
        conn.execute(
            sa.text("UPDATE tasks SET next_attempt_at = now() WHERE id = :i"), {"i": task.id}
        )
        second = claim_task(conn, task.id, 30, OWNER)
    assert second is not None
    assert second.attempt == 2
