"""The operator surface over the API (test database): attempt history, re-drives as resources,
webhook settings and callback URLs."""

import uuid

import sqlalchemy as sa

from db import redrive_runs
from db.execution import claim_task
from db.outcomes import complete_task, fail_task, schedule_retry
from db.redrive import redrive_task
from db.tasks_repo import NewTask, insert_tasks
from tests.webapp.apikit import bearer, make_settings, new_key
from webapp.app import close_app, create_app

OWNER = "test-host/test-table:1"


def _failed(engine: sa.Engine, tenant: str, batch: str, error_type: str = "PermanentError") -> str:
    with engine.begin() as conn:
        (task,) = insert_tasks(
            conn, [NewTask("fail", {"batch": batch}, max_attempts=1, tenant=tenant)]
        )
        claim = claim_task(conn, task.id, 30, OWNER)
        assert claim is not None
        assert fail_task(conn, task.id, claim.lease_token, "boom", error_type)
    return str(task.id)


def test_the_attempts_of_a_task_are_its_history(client, engine):
    key = new_key(engine, tenant="hist")
    with engine.begin() as conn:
        (task,) = insert_tasks(conn, [NewTask("echo", {}, max_attempts=3, tenant="hist")])
        first = claim_task(conn, task.id, 30, OWNER)
        assert first is not None
        schedule_retry(conn, first, "RetryableError: once", "RetryableError", 0)
        second = claim_task(conn, task.id, 30, OWNER)
        assert second is not None
        assert complete_task(conn, second, {"ok": True}, {})
    response = client.get(f"/api/tasks/{task.id}/attempts", headers=bearer(key))
    assert response.status_code == 200
    items = response.json["items"]
    assert [(a["attempt"], a["outcome"], a["worker"]) for a in items] == [
        (1, "retried", OWNER),
        (2, "completed", OWNER),
    ]
    assert items[0]["error_type"] == "RetryableError"
    assert all(a["finished_at"] and a["duration_s"] is not None for a in items)
    other = new_key(engine, tenant="someone-else")
    assert client.get(f"/api/tasks/{task.id}/attempts", headers=bearer(other)).status_code == 404


def test_a_redriven_task_keeps_the_attempts_of_its_earlier_run(client, engine):
    key = new_key(engine, tenant="hist")
    task_id = uuid.UUID(_failed(engine, "hist", uuid.uuid4().hex))
    with engine.begin() as conn:
        assert redrive_task(conn, task_id) is not None
        again = claim_task(conn, task_id, 30, OWNER)
        assert again is not None
        assert complete_task(conn, again, {"ok": True}, {})
    items = client.get(f"/api/tasks/{task_id}/attempts", headers=bearer(key)).json["items"]
    assert [(a["run"], a["attempt"], a["outcome"]) for a in items] == [
        (0, 1, "failed"),
        (1, 1, "completed"),
    ]


def test_a_redrive_is_a_resource_with_counts_and_runs_each_task_once(client, engine):
    tenant, batch = f"rd-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    ids = {_failed(engine, tenant, batch) for _ in range(3)}
    _failed(engine, tenant, batch, error_type="OtherError")
    key = new_key(engine, tenant=tenant)
    body = {"filter": {"error_types": ["PermanentError"], "payload": {"batch": batch}}}
    dry = client.post("/api/redrives", json={**body, "dry_run": True}, headers=bearer(key))
    assert dry.status_code == 202
    assert (dry.json["state"], dry.json["matched"]) == ("COMPLETED", 3)
    started = client.post("/api/redrives", json={**body, "rate": 100}, headers=bearer(key))
    assert started.status_code == 202
    location = started.headers["Location"]
    assert started.json["state"] == "PENDING"
    redrive_id = uuid.UUID(started.json["id"])
    with engine.begin() as conn:
        redrive_runs.run_chunk(conn, redrive_id, 2)
    middle = client.get(location, headers=bearer(key)).json
    assert (middle["state"], middle["matched"], middle["redriven"], middle["pending"]) == (
        "RUNNING",
        3,
        2,
        1,
    )
    # A second run of the same chunk (a duplicate job) finds nothing twice.
    for _ in range(2):
        with engine.begin() as conn:
            redrive_runs.run_chunk(conn, redrive_id, 2)
    done = client.get(location, headers=bearer(key)).json
    assert (done["state"], done["redriven"], done["skipped"]) == ("COMPLETED", 3, 0)
    with engine.connect() as conn:
        statuses = conn.execute(
            sa.text("SELECT id::text, status, redrive_count FROM tasks WHERE id = ANY(:ids)"),
            {"ids": [uuid.UUID(i) for i in ids]},
        ).all()
    assert {(s, n) for _, s, n in statuses} == {("PENDING", 1)}
    assert client.post(f"{location}/cancel", headers=bearer(key)).status_code == 409


def test_redrives_are_confined_to_their_tenant(client, engine):
    tenant = f"rd-{uuid.uuid4().hex[:6]}"
    key = new_key(engine, tenant=tenant)
    created = client.post("/api/redrives", json={"filter": {}}, headers=bearer(key)).json
    other = new_key(engine, tenant="not-" + tenant)
    assert client.get(f"/api/redrives/{created['id']}", headers=bearer(other)).status_code == 404
    everyone = client.post("/api/redrives", json={"all_tenants": True}, headers=bearer(key))
    assert everyone.status_code == 403
    cancelled = client.post(f"/api/redrives/{created['id']}/cancel", headers=bearer(key))
    assert (cancelled.status_code, cancelled.json["state"]) == (200, "CANCELLED")


def test_bad_redrive_requests_are_422_problems(client, engine):
    key = new_key(engine)
    for body in (
        {"filter": {"colour": "red"}},
        {"filter": {"types": "fail"}},
        {"filter": {"failed_since": "yesterday"}},
        {"filter": {"task_ids": ["nope"]}},
        {"rate": 0},
        {"limit": 1.5},
        {"dry_run": "yes"},
        {"unknown": 1},
    ):
        response = client.post("/api/redrives", json=body, headers=bearer(key))
        assert response.status_code == 422, (body, response.json)
        assert response.content_type == "application/problem+json"


def test_webhook_settings_and_callback_urls_refuse_private_targets(client, engine):
    admin = new_key(engine, tenant=f"wh-{uuid.uuid4().hex[:6]}", scopes=("submit", "read", "admin"))
    config = client.get("/api/webhooks", headers=bearer(admin))
    assert config.status_code == 200
    assert config.json["url"] is None and config.json["secret"].startswith("whsec_")
    rotated = client.post("/api/webhooks/secret", headers=bearer(admin)).json
    assert rotated["secret"] != config.json["secret"]
    refused = client.put(
        "/api/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=bearer(admin)
    )
    assert refused.status_code == 422
    assert "loopback" in refused.json["detail"]
    submit = {"type": "echo", "payload": {}, "callback_url": "http://169.254.169.254/latest"}
    response = client.post("/api/tasks", json=submit, headers=bearer(admin))
    assert response.status_code == 422
    assert response.json["field"] == "callback_url"
    assert "link-local" in response.json["detail"]
    plain = new_key(engine)
    assert client.get("/api/webhooks", headers=bearer(plain)).status_code == 403


def test_an_operator_may_allow_private_callbacks(it_database_url, engine):
    app = create_app(make_settings(it_database_url, webhooks_allow_private=True))
    try:
        client = app.test_client()
        key = new_key(engine)
        body = {"type": "echo", "payload": {}, "callback_url": "http://127.0.0.1:8999/hook"}
        response = client.post("/api/tasks", json=body, headers=bearer(key))
        assert response.status_code == 202
        task = client.get(f"/api/tasks/{response.json['id']}", headers=bearer(key)).json
        assert task["callback_url"] == "http://127.0.0.1:8999/hook"
    finally:
        close_app(app)
