"""`GET /api/tasks` through the Flask app on the integration database: pages, 400 problems
naming the parameter, tenant confinement, and injection strings that stay plain values."""

import json
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.webapp.apikit import bearer, new_key


@pytest.fixture
def web(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def submitted(engine: sa.Engine) -> Iterator[list[str]]:
    """Ids of tasks a test submits; they and their outbox rows are deleted afterwards, so no
    PENDING task is left for the reconciler tests sharing this database."""
    ids: list[str] = []
    yield ids
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM outbox WHERE key = ANY(:ids)"), {"ids": ids})
        conn.execute(
            sa.text("DELETE FROM tasks WHERE id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids}
        )


INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE tasks; --",
    "\\'; SELECT pg_sleep(5); --",
    '") OR 1=1 --',
]


def _submit(web: FlaskClient, key: str, payload: dict, submitted: list[str]) -> str:
    response = web.post(
        "/api/tasks", json={"type": "echo", "payload": payload}, headers=bearer(key)
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    submitted.append(response.json["id"])
    return response.json["id"]


def test_search_pages_newest_first_within_the_callers_tenant(web, engine, submitted):
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    key, stranger = new_key(engine, tenant=tenant), new_key(engine, tenant=f"o-{tenant}")
    marker = uuid.uuid4().hex
    ids = [_submit(web, key, {"marker": marker, "i": i}, submitted) for i in range(5)]
    _submit(web, stranger, {"marker": marker, "i": 99}, submitted)
    query = "?payload=" + quote(json.dumps({"marker": marker})) + "&limit=2&status=PENDING"
    seen, url = [], "/api/tasks" + query
    while url:
        response = web.get(url, headers=bearer(key))
        assert response.status_code == 200, response.get_data(as_text=True)
        seen.extend(item["id"] for item in response.json["items"])
        url = response.json["links"].get("next")
    assert seen == list(reversed(ids))


def test_bad_filters_get_a_400_problem_naming_the_parameter(web, engine):
    key = new_key(engine)
    for query, parameter in [
        ("status=NOPE", "status"),
        ("created_after=soon", "created_after"),
        ("payload=%5B1%5D", "payload"),
        ("limit=100000", "limit"),
        ("cursor=abc", "cursor"),
        ("colour=red", "colour"),
    ]:
        response = web.get(f"/api/tasks?{query}", headers=bearer(key))
        assert response.status_code == 400, query
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json["parameter"] == parameter, response.json


def test_injection_strings_in_every_filter_are_bound_values(web, engine):
    key = new_key(engine)
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM tasks")).scalar_one()
    for text in INJECTIONS:
        encoded = quote(text)
        payload = quote(json.dumps({text: text}))
        for query in [
            f"type={encoded}",
            f"payload={payload}",
            f"created_after={encoded}",
            f"created_before={encoded}",
            f"status={encoded}",
            f"limit={encoded}",
            f"cursor={encoded}",
        ]:
            response = web.get(f"/api/tasks?{query}", headers=bearer(key))
            # Either no match (a plain value) or a 400 problem: never a 500, never a match.
            assert response.status_code in {200, 400}, (query, response.get_data(as_text=True))
            if response.status_code == 200:
                assert response.json["items"] == [], query
    with engine.connect() as conn:
        after = conn.execute(sa.text("SELECT count(*) FROM tasks")).scalar_one()
    assert after == before
