"""The API surface on the running stack: the design's curl with and without authentication,
scheduled tasks dispatched when due, cancellation, batches, idempotent retries."""

import json
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta

import requests

from tests.apiproc import api_process
from tests.e2e.conftest import API, REPO, auth_headers, get, submit, wait_for

# Byte for byte the request of the original design (docs/architecture.md, "Interfaces").
DESIGN_CURL = (
    "curl -X POST http://localhost:8080/api/tasks "
    '-H "Content-Type: application/json" -H "X-Correlation-Id: test-123" '
    '-d \'{"payload": "{\\"action\\": \\"process_data\\"}"}\''
)


def _curl(command: str) -> tuple[str, str]:
    out = subprocess.run(
        command.replace("curl ", "curl -s -i ", 1),
        shell=True,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    head, _, body = out.stdout.replace("\r\n", "\n").partition("\n\n")
    return head, body


def test_design_curl_without_a_key_is_refused_with_a_401_problem(api):
    head, body = _curl(DESIGN_CURL)
    assert head.startswith("HTTP/1.1 401"), head
    # Header names are case-insensitive (granian writes them in lower case).
    assert "content-type: application/problem+json" in head.lower()
    assert json.loads(body)["status"] == 401


def test_design_curl_works_verbatim_where_authentication_is_off(api):
    # A second API process of the same stack with WEBAPP_AUTH_ENABLED=false. The stack's API
    # keeps :8080 (with authentication), so only the port of the command is changed.
    with api_process({"WEBAPP_AUTH_ENABLED": "false"}) as base:
        port = base.rsplit(":", 1)[1]
        head, body = _curl(DESIGN_CURL.replace("localhost:8080", f"localhost:{port}"))
        assert head.startswith("HTTP/1.1 202"), head
        task = json.loads(body)
        with requests.Session() as anonymous:
            deadline = time.monotonic() + 30
            while True:
                view = anonymous.get(f"{base}/api/tasks/{task['id']}", timeout=10).json()
                if view["status"] == "COMPLETED" or time.monotonic() > deadline:
                    break
                time.sleep(0.25)
    assert view["status"] == "COMPLETED"
    assert view["correlation_id"] == "test-123"
    assert view["tenant"] is None


def test_scheduled_task_is_dispatched_when_due(api, http):
    run_at = datetime.now(UTC) + timedelta(seconds=3)
    task = submit(http, {"type": "echo", "payload": {"at": "later"}, "run_at": run_at.isoformat()})
    assert task["status"] == "SCHEDULED"
    assert get(http, task["id"])["status"] == "SCHEDULED"
    view = wait_for(http, [task["id"]], timeout_s=30)[task["id"]]
    assert view["status"] == "COMPLETED"
    started = datetime.fromisoformat(view["started_at"])
    assert started >= run_at
    # Beat looks every second; the rest is relay, bridge and worker latency.
    assert (started - run_at).total_seconds() < 5


def test_cancelled_scheduled_task_never_runs(api, http):
    run_at = datetime.now(UTC) + timedelta(seconds=2)
    task = submit(http, {"type": "echo", "run_at": run_at.isoformat()})
    response = http.post(f"{API}/api/tasks/{task['id']}/cancel", timeout=10)
    assert response.status_code == 200
    time.sleep(4)
    view = get(http, task["id"])
    assert (view["status"], view["attempts"], view["started_at"]) == ("CANCELLED", 0, None)
    again = http.post(f"{API}/api/tasks/{task['id']}/cancel", timeout=10)
    assert again.status_code == 409


def test_batch_submission_completes_every_task(api, http):
    body = {
        "tasks": [{"type": "echo", "payload": {"i": i}, "priority": i % 10} for i in range(100)]
    }
    response = http.post(f"{API}/api/tasks/batch", json=body, timeout=30)
    assert response.status_code == 202
    ids = [t["id"] for t in response.json()["tasks"]]
    views = wait_for(http, ids, timeout_s=120)
    assert [views[i]["result"]["echo"]["i"] for i in ids] == list(range(100))
    assert {v["status"] for v in views.values()} == {"COMPLETED"}


def test_idempotent_retry_returns_the_same_task(api):
    headers = {**auth_headers(), "Idempotency-Key": uuid.uuid4().hex}
    body = {"type": "echo", "payload": {"pay": 1}}
    first = requests.post(f"{API}/api/tasks", json=body, headers=headers, timeout=10)
    retry = requests.post(f"{API}/api/tasks", json=body, headers=headers, timeout=10)
    assert (first.status_code, retry.status_code) == (202, 200)
    assert retry.json()["id"] == first.json()["id"]
