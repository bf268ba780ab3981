"""A real Prometheus (Debian's, `ops/stack.sh start prometheus`, :9090) scrapes the local stack."""

import time

import requests

from tests.e2e.conftest import stack, submit, wait_for

PROMETHEUS = "http://127.0.0.1:9090"
JOBS = {"api", "relay", "bridge", "worker", "flower", "prometheus"}


def _query(expr: str) -> list[dict]:
    response = requests.get(f"{PROMETHEUS}/api/v1/query", params={"query": expr}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["data"]["result"]


def _worker_count(task_type: str) -> float:
    text = requests.get("http://127.0.0.1:9103/metrics", timeout=10).text
    prefix = "task_processing_time_count{"
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix) and f'type="{task_type}"' in line
    )


def test_prometheus_scrapes_every_target_and_sees_task_processing_time(api, http):
    stack("start", "prometheus")
    deadline = time.monotonic() + 60
    health: dict[str, str] = {}
    while time.monotonic() < deadline:
        response = requests.get(f"{PROMETHEUS}/api/v1/targets", timeout=10)
        targets = response.json()["data"]["activeTargets"]
        health = {t["labels"]["job"]: t["health"] for t in targets}
        if set(health) == JOBS and set(health.values()) == {"up"}:
            break
        time.sleep(1)
    assert health == dict.fromkeys(JOBS, "up")

    task = submit(http, {"type": "process_data", "payload": {"data": [1, 2]}})
    assert wait_for(http, [task["id"]], timeout_s=30)[task["id"]]["status"] == "COMPLETED"
    expected = _worker_count("process_data")
    assert expected >= 1
    seen = 0.0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        result = _query('sum(task_processing_time_count{type="process_data"})')
        seen = float(result[0]["value"][1]) if result else 0.0
        if seen >= expected:
            break
        time.sleep(1)
    assert seen >= expected
    buckets = _query('task_processing_time_bucket{type="process_data",outcome="completed"}')
    assert buckets, "no histogram buckets in Prometheus"
    assert _query('up{job="worker"}')[0]["value"][1] == "1"
