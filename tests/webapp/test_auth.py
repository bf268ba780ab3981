"""API keys: Bearer authentication, scopes, tenant isolation, hash-only storage, the CLI."""

import hashlib
import json
import time
import uuid
from contextlib import contextmanager

import sqlalchemy as sa
from click.testing import CliRunner

from db.api_keys import revoke_key
from taskctl.cli import main as taskctl
from tests.webapp.apikit import bearer, make_settings, new_key
from webapp.app import close_app, create_app

ECHO = {"type": "echo", "payload": {"n": 1}}


def _problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json["detail"]
    return response.json


def test_missing_malformed_unknown_keys_are_401_with_a_challenge(client):
    for headers in [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer short"},
        {"Authorization": "Bearer tsk_" + "x" * 40},
    ]:
        response = client.post("/api/tasks", json=ECHO, headers=headers)
        _problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def _revoke(engine, key: str) -> None:
    with engine.begin() as conn:
        key_id = conn.execute(
            sa.text("SELECT id FROM api_keys WHERE key_hash = :h"),
            {"h": hashlib.sha256(key.encode()).hexdigest()},
        ).scalar_one()
        assert revoke_key(conn, key_id)


@contextmanager
def _client_with_key_cache(database_url: str, ttl_s: float):
    """A test client of an API whose verified keys are cached for `ttl_s` seconds."""
    app = create_app(make_settings(database_url, auth_cache_ttl_s=ttl_s))
    try:
        yield app.test_client()
    finally:
        close_app(app)


def _submit(client, key: str):
    return client.post("/api/tasks", json=ECHO, headers=bearer(key))


def test_revoked_key_is_401_at_once_without_the_key_cache(it_database_url, engine):
    with _client_with_key_cache(it_database_url, 0) as client:
        key = new_key(engine)
        assert _submit(client, key).status_code == 202
        _revoke(engine, key)
        _problem(_submit(client, key), 401)


def test_revoked_key_is_401_once_its_cache_entry_expires(it_database_url, engine):
    with _client_with_key_cache(it_database_url, 0.5) as client:
        key = new_key(engine)
        assert _submit(client, key).status_code == 202
        _revoke(engine, key)
        # Within the cache's lifetime the verified key is still trusted (documented bound).
        assert _submit(client, key).status_code == 202
        time.sleep(0.6)
        _problem(_submit(client, key), 401)


def test_key_without_the_scope_is_403(client, engine):
    reader = new_key(engine, scopes=("read",))
    submitter = new_key(engine, scopes=("submit",))
    body = _problem(client.post("/api/tasks", json=ECHO, headers=bearer(reader)), 403)
    assert body["required_scope"] == "submit"
    task = client.post("/api/tasks", json=ECHO, headers=bearer(submitter)).json
    _problem(client.get(f"/api/tasks/{task['id']}", headers=bearer(submitter)), 403)
    assert client.get(f"/api/tasks/{task['id']}", headers=bearer(reader)).status_code == 200


def test_admin_scope_grants_every_scope_within_its_tenant(client, engine):
    admin = new_key(engine, scopes=("admin",))
    task = client.post("/api/tasks", json=ECHO, headers=bearer(admin)).json
    assert client.get(f"/api/tasks/{task['id']}", headers=bearer(admin)).status_code == 200


def test_another_tenants_task_behaves_as_if_it_did_not_exist(client, engine):
    tenant_a = f"a-{uuid.uuid4().hex[:8]}"
    key_a = new_key(engine, tenant=tenant_a)
    key_b = new_key(engine, tenant=f"b-{uuid.uuid4().hex[:8]}")
    task = client.post("/api/tasks", json=ECHO, headers=bearer(key_a)).json
    missing = f"/api/tasks/{uuid.UUID(task['id']).hex[:-4]}ffff"
    for path in [f"/api/tasks/{task['id']}", missing]:
        foreign = _problem(client.get(path, headers=bearer(key_b)), 404)
        assert set(foreign) == {"type", "title", "status", "detail", "instance", "correlation_id"}
    _problem(client.post(f"/api/tasks/{task['id']}/cancel", headers=bearer(key_b)), 404)
    page = client.get("/api/tasks?limit=500", headers=bearer(key_b)).json
    assert task["id"] not in {t["id"] for t in page["items"]}
    own = client.get("/api/tasks?limit=500", headers=bearer(key_a)).json
    assert task["id"] in {t["id"] for t in own["items"]}
    assert {t["tenant"] for t in own["items"]} == {tenant_a}
    assert client.get(f"/api/tasks/{task['id']}", headers=bearer(key_a)).json["tenant"] == tenant_a


def test_only_the_hash_of_a_key_is_stored(engine):
    key = new_key(engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM api_keys")).mappings().all()
    dumped = json.dumps([dict(r) for r in rows], default=str)
    assert key not in dumped
    assert key[12:] not in dumped
    assert hashlib.sha256(key.encode()).hexdigest() in dumped


def test_public_endpoints_need_no_key(client):
    for path in ["/healthz", "/api/openapi.json", "/api/docs", "/api/docs/assets/init.js"]:
        assert client.get(path).status_code == 200, path


def test_authentication_off_accepts_requests_without_a_key(it_database_url):
    app = create_app(make_settings(it_database_url, auth_enabled=False))
    client = app.test_client()
    response = client.post("/api/tasks", json=ECHO)
    assert response.status_code == 202
    assert client.get(response.headers["Location"]).json["tenant"] is None
    close_app(app)


def test_taskctl_apikey_create_list_revoke(it_database_url, client):
    runner = CliRunner()
    env = {"DATABASE_URL": it_database_url}
    tenant = f"cli-{uuid.uuid4().hex[:8]}"
    created = runner.invoke(
        taskctl,
        ["apikey", "create", "--name", "ci", "--tenant", tenant, "--scope", "read,submit"],
        env=env,
    )
    assert created.exit_code == 0, created.output
    fields = dict(line.split(":", 1) for line in created.output.splitlines() if ":" in line)
    key, key_id = fields["key"].strip(), fields["id"].strip()
    assert client.post("/api/tasks", json=ECHO, headers=bearer(key)).status_code == 202
    listed = runner.invoke(taskctl, ["apikey", "list", "--tenant", tenant, "--json"], env=env)
    (row,) = [json.loads(line) for line in listed.output.splitlines()]
    assert row["id"] == key_id
    assert row["scopes"] == ["read", "submit"]
    assert key not in listed.output
    revoked = runner.invoke(taskctl, ["apikey", "revoke", key_id], env=env)
    assert revoked.exit_code == 0, revoked.output
    assert client.post("/api/tasks", json=ECHO, headers=bearer(key)).status_code == 401
    again = runner.invoke(taskctl, ["apikey", "revoke", key_id], env=env)
    assert again.exit_code != 0
    bad = runner.invoke(
        taskctl, ["apikey", "create", "--name", "x", "--tenant", "t", "--scope", "root"], env=env
    )
    assert bad.exit_code != 0
