"""Submits wake the relay after their commit, not inside it (db/wakeup.py): a new task's outbox
row is already visible when the notification arrives; nothing new, no notification."""

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import sqlalchemy as sa

from db.direct import libpq_conninfo
from tests.webapp.apikit import bearer, new_key


def _listen(url: str) -> psycopg.Connection[tuple[object, ...]]:
    conn = psycopg.connect(libpq_conninfo(url), autocommit=True)
    conn.execute("LISTEN outbox")
    return conn


def _queued(engine: sa.Engine, task_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM outbox WHERE key = :k"), {"k": task_id}
        ).scalar_one()


def test_a_single_submit_wakes_the_relay_once_its_row_is_committed(client, engine, it_database_url):
    key = new_key(engine, f"wake-{uuid.uuid4().hex[:8]}")
    with _listen(it_database_url) as listener:
        response = client.post("/api/tasks", json={"type": "echo"}, headers=bearer(key))
        assert response.status_code == 202
        assert any(True for _ in listener.notifies(timeout=5, stop_after=1))
        # Read on another session right after the notification: the row is there.
        assert _queued(engine, response.json["id"]) == 1


def test_a_scheduled_task_and_a_replay_do_not_wake_it(client, engine, it_database_url):
    key = new_key(engine, f"wake-{uuid.uuid4().hex[:8]}")
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    headers = {**bearer(key), "Idempotency-Key": uuid.uuid4().hex}
    first = client.post("/api/tasks", json={"type": "echo"}, headers=headers)
    assert first.status_code == 202
    with _listen(it_database_url) as listener:
        # Give the first submit's NOTIFY time to go out before listening counts.
        list(listener.notifies(timeout=0.5))
        scheduled = client.post(
            "/api/tasks", json={"type": "echo", "run_at": later}, headers=bearer(key)
        )
        replayed = client.post("/api/tasks", json={"type": "echo"}, headers=headers)
        notes = list(listener.notifies(timeout=1))
    assert scheduled.status_code == 202
    assert scheduled.json["status"] == "SCHEDULED"
    assert replayed.status_code == 200
    assert notes == []
