"""dispatch_due: due SCHEDULED tasks become PENDING with an outbox row, once, atomically."""

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from db.scheduled import dispatch_due
from db.tasks_repo import NewTask, insert_tasks


@pytest.fixture(autouse=True)
def _delete_tasks_the_test_created(engine) -> Iterator[None]:
    with engine.connect() as conn:
        started = conn.execute(sa.text("SELECT now() - interval '1 second'")).scalar_one()
    yield
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM tasks WHERE created_at >= :s"), {"s": started})


def _schedule(engine, tenant: str, run_at: datetime, n: int) -> list[str]:
    with engine.begin() as conn:
        inserted = insert_tasks(
            conn,
            [
                NewTask(type="echo", payload={}, max_attempts=4, run_at=run_at, tenant=tenant)
                for _ in range(n)
            ],
        )
    return [str(t.id) for t in inserted]


def _state(engine, ids: list[str]) -> tuple[dict[str, str], int]:
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(
                sa.text("SELECT id::text, status FROM tasks WHERE id::text = ANY(:ids)"),
                {"ids": ids},
            ).all()
        )
        queued = conn.execute(
            sa.text("SELECT count(*) FROM outbox WHERE key = ANY(:ids)"), {"ids": ids}
        ).scalar_one()
    return statuses, queued


def _backdate(engine, ids: list[str]) -> None:
    # Make the tasks due without waiting: move run_at into the past.
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE tasks SET run_at = now() - interval '1 second' WHERE id::text = ANY(:ids)"
            ),
            {"ids": ids},
        )


def test_future_tasks_wait_and_due_ones_are_dispatched_with_an_outbox_row(engine, clean_outbox):
    tenant = uuid.uuid4().hex
    later = _schedule(engine, tenant, datetime.now(UTC) + timedelta(hours=1), 3)
    due = _schedule(engine, tenant, datetime.now(UTC) + timedelta(hours=1), 4)
    assert _state(engine, later + due) == ({i: "SCHEDULED" for i in later + due}, 0)
    _backdate(engine, due)
    with engine.begin() as conn:
        moved = dispatch_due(conn)
    assert moved == 4
    statuses, queued = _state(engine, later + due)
    assert {statuses[i] for i in due} == {"PENDING"}
    assert {statuses[i] for i in later} == {"SCHEDULED"}
    assert queued == 4
    with engine.begin() as conn:
        assert dispatch_due(conn) == 0


def test_concurrent_dispatchers_never_dispatch_a_task_twice(engine, clean_outbox):
    ids = _schedule(engine, uuid.uuid4().hex, datetime.now(UTC) + timedelta(hours=1), 200)
    _backdate(engine, ids)
    counts: list[int] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        total = 0
        while True:
            with engine.begin() as conn:
                moved = dispatch_due(conn, batch=25)
            total += moved
            if moved == 0:
                break
        counts.append(total)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    statuses, queued = _state(engine, ids)
    assert sum(counts) == 200
    assert set(statuses.values()) == {"PENDING"}
    assert queued == 200
