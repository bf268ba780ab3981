"""Observability on the running stack: one correlation id through the JSON logs of the API,
relay, bridge and worker and into the DLT record; metrics of every process, correct under
the API's worker processes and Celery prefork; the Grafana dashboard's metrics exist.

The stack writes JSON logs (ops/stack.sh sets LOG_FORMAT=json unless told otherwise), and these
tests parse them, so they also prove the JSON format end to end.
"""

import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from confluent_kafka import Consumer, TopicPartition

from db.topics import DLT_TOPIC
from tests.conftest import KAFKA
from tests.e2e.conftest import API, REPO, get, submit, wait_for
from tests.ops.promql import exposed_names, metric_names

LOGS = REPO / ".stack" / "logs"
PROCESSES = ("api", "relay", "bridge", "worker")
ENDPOINTS = {
    "api": f"{API}/metrics",
    "relay": "http://127.0.0.1:9101/metrics",
    "bridge": "http://127.0.0.1:9102/metrics",
    "worker": "http://127.0.0.1:9103/metrics",
    "flower": "http://127.0.0.1:5555/metrics",
}
DASHBOARD = REPO / "ops" / "grafana" / "dashboards" / "taskservice.json"
RULES = REPO / "ops" / "prometheus" / "rules" / "taskservice.yml"


def _log_sizes() -> dict[str, int]:
    return {name: (LOGS / f"{name}.log").stat().st_size for name in PROCESSES}


def _json_lines(name: str, since: int, correlation_id: str) -> list[dict[str, Any]]:
    """The JSON lines `name` wrote after byte `since` that mention `correlation_id`."""
    with (LOGS / f"{name}.log").open("rb") as f:
        f.seek(since)
        text = f.read().decode("utf-8", "replace")
    found = []
    for line in text.splitlines():
        if correlation_id in line:
            assert line.startswith("{"), f"{name} wrote a non-JSON line: {line[:200]}"
            found.append(json.loads(line))
    return found


def _wait_for_lines(
    sizes: dict[str, int], correlation_id: str, enough: Callable[[dict[str, list]], bool]
) -> dict[str, list[dict[str, Any]]]:
    deadline = time.monotonic() + 15
    while True:
        lines = {name: _json_lines(name, sizes[name], correlation_id) for name in PROCESSES}
        if enough(lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.3)


def _scrape(url: str) -> str:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, f"{url}: {response.status_code}"
    return response.text


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in an exposition; 0 when it is absent."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        match = re.fullmatch(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)", line)
        if match and ",".join(sorted((match.group(1) or "").split(","))) == want:
            return float(match.group(2))
    return 0.0


def _dlt_records(task_id: str, start: dict[int, int], timeout_s: float = 20) -> list[Any]:
    """The `tasks-dlt` records of `task_id` written after the offsets in `start`."""
    consumer = Consumer(
        {"bootstrap.servers": KAFKA, "group.id": f"obs-{uuid.uuid4()}", "enable.auto.commit": False}
    )
    try:
        consumer.assign([TopicPartition(DLT_TOPIC, p, o) for p, o in start.items()])
        found = []
        deadline = time.monotonic() + timeout_s
        while not found and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=1):
                if msg.error() is None and msg.key() == task_id.encode():
                    found.append(msg)
        return found
    finally:
        consumer.close()


def _dlt_ends() -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": KAFKA, "group.id": f"obs-{uuid.uuid4()}"})
    try:
        partitions = consumer.list_topics(DLT_TOPIC, timeout=10).topics[DLT_TOPIC].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(DLT_TOPIC, p), timeout=10)[1]
            for p in partitions
        }
    finally:
        consumer.close()


def test_one_correlation_id_is_in_the_json_logs_of_api_relay_bridge_and_worker(api, http):
    correlation_id = f"obs-{uuid.uuid4()}"
    sizes = _log_sizes()
    task = submit(
        http, {"type": "echo", "payload": {"n": 1}}, **{"X-Correlation-Id": correlation_id}
    )
    assert wait_for(http, [task["id"]], timeout_s=30)[task["id"]]["status"] == "COMPLETED"
    lines = _wait_for_lines(
        sizes,
        correlation_id,
        lambda found: (
            all(found.values()) and any("completed" in r["message"] for r in found["worker"])
        ),
    )
    for name in PROCESSES:
        assert lines[name], f"no {name} log line carries {correlation_id}"
        for record in lines[name]:
            assert record["service"] == name
            assert record["correlation_id"] == correlation_id
            assert record["task_id"] == task["id"]
            assert record["task_type"] == "echo"
            assert {"timestamp", "level", "logger", "message"} <= record.keys()
    # One line per request, naming the task it accepted through the log context.
    assert [r["message"].split()[:3] for r in lines["api"]] == [["POST", "/api/tasks", "202"]]
    assert any("published task" in r["message"] for r in lines["relay"])
    assert any("queued for Celery" in r["message"] for r in lines["bridge"])
    worker = [r for r in lines["worker"] if r["logger"] == "celery_tasks.execute"]
    assert worker, lines["worker"]
    assert all(r["attempt"] == 1 for r in worker)


def test_failing_task_has_its_correlation_id_in_the_dlt_record_and_worker_log(api, http):
    correlation_id = f"obs-dlt-{uuid.uuid4()}"
    start = _dlt_ends()
    sizes = _log_sizes()
    task = submit(
        http,
        {"type": "fail", "payload": {"permanent": True}},
        **{"X-Correlation-Id": correlation_id},
    )
    assert wait_for(http, [task["id"]], timeout_s=30)[task["id"]]["status"] == "FAILED"
    (record,) = _dlt_records(task["id"], start)
    assert dict(record.headers())["correlation_id"] == correlation_id.encode()
    value = json.loads(record.value())
    assert value["correlation_id"] == correlation_id
    assert value["error_type"] == "PermanentError"
    lines = _wait_for_lines(
        sizes, correlation_id, lambda found: any(r["level"] == "ERROR" for r in found["worker"])
    )
    failed = [r for r in lines["worker"] if r["level"] == "ERROR"]
    assert failed and failed[0]["task_id"] == task["id"]
    assert "dead-letter" in failed[0]["message"]
    # The relay publishes the DLT record with the same context.
    assert any(DLT_TOPIC in r["message"] for r in lines["relay"]), lines["relay"]


def test_api_metrics_add_up_across_worker_processes(api, http):
    route = "/api/tasks/<task_id>"
    labels = {"method": "GET", "route": route, "status": "404"}
    before = _sample(_scrape(ENDPOINTS["api"]), "http_requests_total", **labels)
    for _ in range(30):
        response = http.get(f"{API}/api/tasks/{uuid.uuid4()}", timeout=10)
        assert response.status_code == 404
    # Each scrape lands on any worker; every one must report the whole API's count.
    seen = {_sample(_scrape(ENDPOINTS["api"]), "http_requests_total", **labels) for _ in range(8)}
    assert seen == {before + 30}


def test_worker_metrics_add_up_across_prefork_children(api, http):
    labels = {"type": "echo", "outcome": "completed"}
    before = _sample(_scrape(ENDPOINTS["worker"]), "task_processing_time_count", **labels)
    ids = [submit(http, {"type": "echo", "payload": {"n": n}})["id"] for n in range(16)]
    views = wait_for(http, ids, timeout_s=60)
    assert {v["status"] for v in views.values()} == {"COMPLETED"}
    after = {
        _sample(_scrape(ENDPOINTS["worker"]), "task_processing_time_count", **labels)
        for _ in range(3)
    }
    assert after == {before + 16}


def test_every_process_exports_the_metrics_the_issue_lists(api, http):
    retried = submit(http, {"type": "fail", "payload": {"times": 1}})["id"]
    wait_for(http, [retried], timeout_s=60)
    wanted = {
        "api": {
            "http_requests_total",
            "http_request_duration_seconds_bucket",
            "tasks_submitted_total",
            "http_rate_limited_requests_total",
        },
        "relay": {
            "relay_outbox_backlog",
            "relay_published_messages_total",
            "relay_publish_latency_seconds_bucket",
            "relay_delivery_errors_total",
            "tasks_by_status",
            "tasks_oldest_pending_age_seconds",
            "tasks_dlt_depth",
            "tasks_in_default_partition",
        },
        "bridge": {
            "bridge_records_consumed_total",
            "bridge_dispatch_latency_seconds_bucket",
            "bridge_consumer_lag",
        },
        "worker": {
            "task_processing_time_bucket",
            "task_retry_count_total",
            "task_failures_total",
            "task_dlt_records_total",
        },
        "flower": {"flower_worker_online"},
    }
    for name, metrics in wanted.items():
        missing = metrics - exposed_names(_scrape(ENDPOINTS[name]))
        assert not missing, f"{name} does not export {missing}"
    relay = _scrape(ENDPOINTS["relay"])
    # Active statuses only: the refresh reads the partial index, never the history.
    assert _sample(relay, "tasks_by_status", status="PENDING") >= 0
    assert not [line for line in relay.splitlines() if 'status="COMPLETED"' in line]


def test_every_metric_the_dashboard_and_alerts_query_is_exported(api, http):
    # A failure and a retry first, so event-driven series have samples.
    failed = submit(http, {"type": "fail", "payload": {"permanent": True}})["id"]
    retried = submit(http, {"type": "fail", "payload": {"times": 1}})["id"]
    wait_for(http, [failed, retried], timeout_s=60)
    exported = {"up"}  # Prometheus' own series for every target
    for url in ENDPOINTS.values():
        exported |= exposed_names(_scrape(url))
    dashboard = json.loads(DASHBOARD.read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in metric_names(target["expr"])
    }
    rules = RULES.read_text()
    queried |= {name for expr in re.findall(r"expr: (.+)", rules) for name in metric_names(expr)}
    assert len(queried) > 20
    # Counted only when a duplicate delivery happens; its name is checked in the worker's code.
    event_only = {"task_duplicate_deliveries_total"}
    assert queried - exported <= event_only, queried - exported
    for name in event_only:
        assert name.removesuffix("_total") in Path(REPO / "celery_tasks" / "metrics.py").read_text()
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("throughput", "percentiles", "retries", "failures", "dead-letter", "lag"):
        assert topic in titles
    for topic in ("backlog", "workers"):
        assert topic in titles


def test_get_of_a_task_is_logged_with_the_requests_correlation_id(api, http):
    task = submit(http, {"type": "echo", "payload": {}})
    correlation_id = f"obs-get-{uuid.uuid4()}"
    sizes = _log_sizes()
    response = http.get(
        f"{API}/api/tasks/{task['id']}", headers={"X-Correlation-Id": correlation_id}, timeout=10
    )
    assert response.headers["X-Correlation-Id"] == correlation_id
    lines = _wait_for_lines(sizes, correlation_id, lambda found: bool(found["api"]))
    assert any(r["message"].startswith("GET /api/tasks/") for r in lines["api"])
    assert get(http, task["id"])["id"] == task["id"]
