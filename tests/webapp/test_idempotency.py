"""Idempotency-Key: replays, conflicts, expiry and concurrent identical requests."""

import threading
import time
import uuid

import sqlalchemy as sa

from tests.webapp.apikit import bearer, make_settings, new_key
from webapp.app import close_app, create_app

BODY = {"type": "echo", "payload": {"order": 42}}


def _tasks_with_key(engine, key: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM tasks WHERE idempotency_key = :k"), {"k": key}
        ).scalar_one()


def test_same_key_and_body_returns_the_original_task_with_200(client, engine):
    headers = {**bearer(new_key(engine)), "Idempotency-Key": uuid.uuid4().hex}
    first = client.post("/api/tasks", json=BODY, headers=headers)
    # Same JSON, other key order and spacing: the same request.
    again = client.post(
        "/api/tasks",
        data='{"payload": {"order": 42},   "type": "echo"}',
        content_type="application/json",
        headers=headers,
    )
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json["id"] == first.json["id"]
    assert again.headers["Location"] == first.headers["Location"]
    assert _tasks_with_key(engine, headers["Idempotency-Key"]) == 1


def test_same_key_with_a_different_body_is_a_409_problem(client, engine):
    headers = {**bearer(new_key(engine)), "Idempotency-Key": uuid.uuid4().hex}
    assert client.post("/api/tasks", json=BODY, headers=headers).status_code == 202
    other = client.post("/api/tasks", json={**BODY, "priority": 5}, headers=headers)
    assert other.status_code == 409
    assert other.headers["Content-Type"] == "application/problem+json"
    assert "different request" in other.json["detail"]


def test_keys_are_per_tenant(client, engine):
    key = uuid.uuid4().hex
    a = client.post(
        "/api/tasks", json=BODY, headers={**bearer(new_key(engine, "ta")), "Idempotency-Key": key}
    )
    b = client.post(
        "/api/tasks", json=BODY, headers={**bearer(new_key(engine, "tb")), "Idempotency-Key": key}
    )
    assert (a.status_code, b.status_code) == (202, 202)
    assert a.json["id"] != b.json["id"]


def test_expired_key_creates_a_new_task(it_database_url, engine):
    app = create_app(make_settings(it_database_url, idempotency_ttl_s=1))
    client = app.test_client()
    headers = {**bearer(new_key(engine)), "Idempotency-Key": uuid.uuid4().hex}
    first = client.post("/api/tasks", json=BODY, headers=headers)
    time.sleep(1.2)
    second = client.post("/api/tasks", json={**BODY, "priority": 3}, headers=headers)
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json["id"] != second.json["id"]
    close_app(app)


def test_concurrent_identical_requests_create_one_task(app, engine):
    headers = {**bearer(new_key(engine)), "Idempotency-Key": uuid.uuid4().hex}
    barrier = threading.Barrier(8)
    results: list[tuple[int, str]] = []

    def one() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post("/api/tasks", json=BODY, headers=headers)
        results.append((response.status_code, response.json["id"]))

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 8
    assert len({task_id for _, task_id in results}) == 1
    assert sorted(code for code, _ in results) == [200] * 7 + [202]
    assert _tasks_with_key(engine, headers["Idempotency-Key"]) == 1


def test_batch_replay_returns_the_same_ids_in_order(client, engine):
    headers = {**bearer(new_key(engine)), "Idempotency-Key": uuid.uuid4().hex}
    body = {"tasks": [{"type": "echo", "payload": {"i": i}} for i in range(5)]}
    first = client.post("/api/tasks/batch", json=body, headers=headers)
    again = client.post("/api/tasks/batch", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert [t["id"] for t in again.json["tasks"]] == [t["id"] for t in first.json["tasks"]]
    single = client.post("/api/tasks", json=body["tasks"][0], headers=headers)
    assert single.status_code == 409


def test_malformed_idempotency_key_is_a_400(client, engine):
    headers = {**bearer(new_key(engine)), "Idempotency-Key": "has spaces in it"}
    response = client.post("/api/tasks", json=BODY, headers=headers)
    assert response.status_code == 400
    assert response.json["header"] == "Idempotency-Key"
