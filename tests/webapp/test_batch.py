"""POST /api/tasks/batch: one transaction, ids in order, errors by index, nothing stored."""

import uuid

import psycopg
import sqlalchemy as sa

from tests.webapp.apikit import bearer, make_settings, new_key
from webapp.app import close_app, create_app


def _count(engine, tenant: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM tasks WHERE tenant = :t"), {"t": tenant}
        ).scalar_one()


def test_batch_stores_every_task_and_answers_ids_in_order(client, engine, it_database_url):
    tenant = f"batch-{uuid.uuid4().hex[:8]}"
    key = new_key(engine, tenant)
    body = {"tasks": [{"type": "echo", "payload": {"i": i}} for i in range(300)]}
    conninfo = sa.engine.make_url(it_database_url).set(drivername="postgresql")
    with psycopg.connect(conninfo.render_as_string(False), autocommit=True) as listener:
        listener.execute("LISTEN outbox")
        response = client.post("/api/tasks/batch", json=body, headers=bearer(key))
        notes = list(listener.notifies(timeout=1))
    assert response.status_code == 202
    assert response.json["count"] == 300
    ids = [t["id"] for t in response.json["tasks"]]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT id::text, payload FROM tasks WHERE tenant = :t"), {"t": tenant}
        ).all()
        queued = conn.execute(
            sa.text("SELECT count(*) FROM outbox WHERE key = ANY(:ids)"), {"ids": ids}
        ).scalar_one()
    by_id = {r.id: r.payload for r in rows}
    assert [by_id[i]["i"] for i in ids] == list(range(300))
    assert queued == 300
    assert len(notes) == 1


def test_invalid_items_are_reported_by_index_and_nothing_is_stored(client, engine):
    tenant = f"batch-{uuid.uuid4().hex[:8]}"
    body = {
        "tasks": [
            {"type": "echo"},
            {"type": "no_such_type"},
            {"type": "echo"},
            {"type": "echo", "priority": 99},
            "not an object",
        ]
    }
    response = client.post("/api/tasks/batch", json=body, headers=bearer(new_key(engine, tenant)))
    assert response.status_code == 422
    assert [e["index"] for e in response.json["errors"]] == [1, 3, 4]
    assert response.json["errors"][1]["field"] == "priority"
    assert _count(engine, tenant) == 0


def test_batch_size_and_shape_are_bounded(it_database_url, engine):
    app = create_app(make_settings(it_database_url, max_batch_size=3))
    client = app.test_client()
    headers = bearer(new_key(engine))
    too_many = {"tasks": [{"type": "echo"}] * 4}
    for body in [too_many, {"tasks": []}, {"tasks": {}}, [], {"tasks": [{}], "extra": 1}]:
        response = client.post("/api/tasks/batch", json=body, headers=headers)
        assert response.status_code == 422, body
    close_app(app)
