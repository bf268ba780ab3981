"""The request hooks run in the order webapp/hooks.py states: correlation id first, then
authentication, then the rate limiter; Retry-After only on 429 and 503."""

from tests.webapp.apikit import bearer, make_settings, new_key
from webapp.app import close_app, create_app

ECHO = {"type": "echo", "payload": {}}


def test_an_accepted_task_carries_rate_limit_headers_but_no_retry_after(client, engine):
    response = client.post("/api/tasks", json=ECHO, headers=bearer(new_key(engine)))
    assert response.status_code == 202
    assert response.headers["X-RateLimit-Remaining"]
    assert "Retry-After" not in response.headers


def test_a_refused_request_carries_retry_after(it_database_url, engine, test_broker):
    app = create_app(make_settings(it_database_url))
    try:
        client = app.test_client()
        key = new_key(engine, rate_limit="1/minute")
        assert client.post("/api/tasks", json=ECHO, headers=bearer(key)).status_code == 202
        refused = client.post("/api/tasks", json=ECHO, headers=bearer(key))
    finally:
        close_app(app)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60


def test_an_unauthenticated_request_is_answered_before_the_limiter_counts_it(client):
    response = client.post("/api/tasks", json=ECHO, headers={"X-Correlation-Id": "hooks-1"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    # The correlation id was read before authentication refused the request.
    assert response.headers["X-Correlation-Id"] == "hooks-1"
    assert response.json["correlation_id"] == "hooks-1"
    assert "X-RateLimit-Remaining" not in response.headers
    assert "Retry-After" not in response.headers


def test_readiness_can_require_only_the_database(it_database_url):
    # Kafka on a port nothing listens on: the full check fails, the database-only one passes.
    app = create_app(make_settings(it_database_url, kafka_bootstrap_servers="127.0.0.1:1"))
    try:
        client = app.test_client()
        full = client.get("/readyz")
        submit_only = client.get("/readyz?require=database")
        unknown = client.get("/readyz?require=flux")
    finally:
        close_app(app)
    assert full.status_code == 503
    assert full.json["checks"]["kafka"] != "ok"
    assert submit_only.status_code == 200
    assert submit_only.json["checks"]["kafka"] != "ok"
    assert submit_only.json["checks"]["database"] == "ok"
    assert unknown.status_code == 400
    assert unknown.json["parameter"] == "require"
