"""The whole pipeline over HTTP: API -> PostgreSQL + outbox -> relay -> Kafka -> bridge ->
Celery -> worker -> COMPLETED, on the running stack."""

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.e2e.conftest import API, REPO, get, stack, submit, wait_for


def test_post_task_returns_202_and_location_then_completes(api, http):
    response = http.post(
        f"{api}/api/tasks",
        json={"type": "process_data", "payload": {"action": "process_data", "data": [1, 2, 3]}},
        headers={"X-Correlation-Id": "e2e-one"},
        timeout=10,
    )
    assert response.status_code == 202
    body = response.json()
    assert response.headers["Location"] == f"/api/tasks/{body['id']}"
    assert response.headers["X-Correlation-Id"] == "e2e-one"
    assert body["status"] == "PENDING"
    view = wait_for(http, [body["id"]], timeout_s=30)[body["id"]]
    assert view["status"] == "COMPLETED"
    assert view["attempts"] == 1
    assert view["correlation_id"] == "e2e-one"
    assert view["result"]["stats"] == {"count": 3, "sum": 6, "min": 1, "max": 3, "mean": 2.0}


def test_curl_example_from_the_design_is_accepted_and_completed(api, http):
    # The request of the original design (docs/architecture.md, "Interfaces"), plus the API
    # key header, as the README shows it (the verbatim request, authentication off, is in
    # test_api_surface.py).
    command = (
        "curl -s -i -X POST http://localhost:8080/api/tasks "
        '-H "Authorization: Bearer $(cat .stack/dev-api-key)" '
        '-H "Content-Type: application/json" -H "X-Correlation-Id: test-123" '
        '-d \'{"payload": "{\\"action\\": \\"process_data\\"}"}\''
    )
    out = subprocess.run(
        command, shell=True, cwd=REPO, capture_output=True, text=True, timeout=30, check=True
    )
    head, _, body = out.stdout.replace("\r\n", "\n").partition("\n\n")
    assert head.startswith("HTTP/1.1 202"), out.stdout
    # Header names are case-insensitive (granian writes them in lower case).
    assert "location: /api/tasks/" in head.lower()
    task = json.loads(body)
    view = wait_for(http, [task["id"]], timeout_s=30)[task["id"]]
    assert view["status"] == "COMPLETED"
    assert view["type"] == "process_data"
    assert view["correlation_id"] == "test-123"
    assert view["result"]["action"] == "process_data"


def test_two_hundred_concurrent_tasks_complete_with_one_attempt_each(api, http):
    def one(i: int) -> str:
        with requests.Session() as session:
            return submit(session, {"type": "echo", "payload": {"i": i}})["id"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(one, range(200)))
    assert len(set(ids)) == 200
    views = wait_for(http, ids, timeout_s=120)
    assert {v["status"] for v in views.values()} == {"COMPLETED"}
    assert {v["attempts"] for v in views.values()} == {1}
    assert sorted(v["result"]["echo"]["i"] for v in views.values()) == list(range(200))


def test_submissions_while_kafka_is_down_complete_once_it_is_back(api, http):
    stack("stop", "kafka")
    try:
        ids = [submit(http, {"type": "echo", "payload": {"n": n}})["id"] for n in range(50)]
        assert all(get(http, i)["status"] == "PENDING" for i in ids)
        ready = http.get(f"{API}/readyz", timeout=15)
        assert ready.status_code == 503
        assert ready.json()["checks"]["kafka"] != "ok"
        assert ready.json()["checks"]["database"] == "ok"
    finally:
        stack("start", "kafka")
    views = wait_for(http, ids, timeout_s=180)
    assert {v["status"] for v in views.values()} == {"COMPLETED"}
    assert {v["attempts"] for v in views.values()} == {1}


def test_get_unknown_or_malformed_id_is_a_404_problem(api, http):
    for task_id in ["not-a-uuid", "0192f0a0-0000-7000-8000-000000000000"]:
        response = http.get(f"{API}/api/tasks/{task_id}", timeout=10)
        assert response.status_code == 404
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == 404


def test_bad_submissions_get_problem_details(api, http):
    cases = [
        ("{bad json", "application/json", 400),
        ('{"payload": {"action": "no_such_type"}}', "application/json", 422),
        ('{"type": "echo"}', "text/plain", 415),
    ]
    for data, content_type, status in cases:
        response = http.post(
            f"{API}/api/tasks", data=data, headers={"Content-Type": content_type}, timeout=10
        )
        assert response.status_code == status, (data, response.text)
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json()["detail"]


def test_readyz_reports_each_dependency(api, http):
    response = http.get(f"{API}/readyz", timeout=10)
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "kafka": "ok"}
