"""Bad input of every kind gets a 400/413/415/422 problem with a reason, never a 500."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.webapp.apikit import bearer, new_key

NOW = datetime.now(UTC)

CASES = [
    # (raw body, content type, expected status)
    (b"{bad", "application/json", 400),
    (b'{"type": "echo", "payload": {"x": NaN}}', "application/json", 400),
    (b'{"type": "echo", "payload": {"x": -Infinity}}', "application/json", 400),
    (("[" * 200 + "]" * 200).encode(), "application/json", 400),
    (b"\xff\xfe", "application/json", 400),
    (json.dumps({"type": "echo", "payload": {"a": "x\u0000"}}).encode(), "application/json", 422),
    (b"[1, 2]", "application/json", 422),
    (b'"text"', "application/json", 422),
    (b"null", "application/json", 422),
    (b'{"type": "echo"}', "text/plain", 415),
    (b'{"type": "echo"}', "application/x-www-form-urlencoded", 415),
    (b'{"type": "echo", "colour": "red"}', "application/json", 422),
    (b'{"type": 7}', "application/json", 422),
    (b'{"type": "echo", "payload": 5}', "application/json", 422),
    (b'{"type": "echo", "priority": 10}', "application/json", 422),
    (b'{"type": "echo", "priority": -1}', "application/json", 422),
    (b'{"type": "echo", "priority": 1.5}', "application/json", 422),
    (b'{"type": "echo", "max_attempts": 1000}', "application/json", 422),
    (b'{"type": "echo", "run_at": "0001-01-01T00:00:00Z"}', "application/json", 422),
    (b'{"type": "echo", "run_at": "9999-12-31T23:59:59+14:00"}', "application/json", 422),
    (b'{"type": "echo", "run_at": "0001-01-01T00:00:00-14:00"}', "application/json", 422),
    (b'{"type": "echo", "run_at": "2026-12-01T10:00:00"}', "application/json", 422),
    (b'{"type": "echo", "run_at": "tomorrow"}', "application/json", 422),
    (b'{"type": "echo", "run_at": 1767225600}', "application/json", 422),
    (b'{"type": "echo", "run_at": "2026-12-01"}', "application/json", 422),
]


@pytest.mark.parametrize(("raw", "content_type", "status"), CASES)
def test_bad_submission_is_a_problem_with_a_reason(client, engine, raw, content_type, status):
    response = client.post(
        "/api/tasks", data=raw, content_type=content_type, headers=bearer(new_key(engine))
    )
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json["status"] == status
    assert response.json["detail"]


def test_body_over_the_limit_is_413(client, engine):
    raw = json.dumps({"type": "echo", "payload": {"x": "a" * (1024 * 1024)}}).encode()
    response = client.post(
        "/api/tasks", data=raw, content_type="application/json", headers=bearer(new_key(engine))
    )
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"


def test_run_at_in_the_future_is_scheduled_and_visible(client, engine):
    headers = bearer(new_key(engine))
    run_at = (NOW + timedelta(days=2)).replace(microsecond=0)
    response = client.post(
        "/api/tasks",
        json={"type": "echo", "priority": 7, "run_at": run_at.isoformat().replace("+00:00", "Z")},
        headers=headers,
    )
    assert response.status_code == 202
    assert response.json["status"] == "SCHEDULED"
    view = client.get(response.headers["Location"], headers=headers).json
    assert datetime.fromisoformat(view["run_at"]) == run_at
    assert view["priority"] == 7


def test_correlation_id_is_kept_when_safe_and_replaced_otherwise(client, engine):
    headers = bearer(new_key(engine))
    for sent, kept in [("abc-123:x.y", True), ("a" * 129, False), ("bad id", False), ("é", False)]:
        response = client.post(
            "/api/tasks",
            json={"type": "echo"},
            headers={**headers, "X-Correlation-Id": sent},
        )
        returned = response.headers["X-Correlation-Id"]
        assert (returned == sent) is kept
        assert response.json["correlation_id"] == returned
