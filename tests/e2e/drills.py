"""Helpers of the fault and load drills: metrics, bulk submission, the task rows they made, and
the stack's supervisord (its instances, their pids, the counts they run at)."""

import os
import subprocess
import time
import uuid
import xmlrpc.client
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from supervisor.xmlrpc import SupervisorTransport

from tests.e2e.conftest import API, REPO, auth_headers, stack

WORKER_METRICS = "http://127.0.0.1:9103/metrics"
RELAY_METRICS = "http://127.0.0.1:9101/metrics"
MAINTENANCE_METRICS = "http://127.0.0.1:9104/metrics"
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")


def metric_total(url: str, name: str, **labels: str) -> float:
    """The sum of every sample of counter or gauge `name` matching `labels` (0 when absent)."""
    text = requests.get(url, timeout=10).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name not in (name, f"{name}_total"):
                continue
            if all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def duplicates() -> float:
    """Deliveries that did not run a handler, summed over every reason, on the stack's worker."""
    return metric_total(WORKER_METRICS, "task_duplicate_deliveries")


def submit_batches(
    total: int, body: dict[str, Any], *, batch: int = 100, correlation_id: str | None = None
) -> list[str]:
    """Submit `total` copies of `body` through the batch API; returns their ids in order."""
    ids: list[str] = []
    headers = {**auth_headers(), "X-Correlation-Id": correlation_id or uuid.uuid4().hex}
    with requests.Session() as session:
        while len(ids) < total:
            count = min(batch, total - len(ids))
            response = session.post(
                f"{API}/api/tasks/batch",
                json={"tasks": [body] * count},
                headers=headers,
                timeout=60,
            )
            assert response.status_code == 202, response.text
            ids.extend(item["id"] for item in response.json()["tasks"])
    return ids


def statuses(engine: sa.Engine, correlation_id: str) -> dict[str, int]:
    """How many of the tasks submitted under `correlation_id` are in each status."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT status, count(*) FROM tasks WHERE correlation_id = :c GROUP BY status"),
            {"c": correlation_id},
        )
        return {status: int(count) for status, count in rows}


def wait_terminal(engine: sa.Engine, correlation_id: str, total: int, timeout_s: float) -> float:
    """Wait until all `total` tasks of `correlation_id` are terminal; returns the seconds taken."""
    started = time.monotonic()
    while True:
        counts = statuses(engine, correlation_id)
        done = sum(counts.get(s, 0) for s in TERMINAL)
        if done >= total:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout_s, f"after {timeout_s}s: {counts}"
        time.sleep(1)


def effects_per_task(engine: sa.Engine, correlation_id: str) -> dict[int, int]:
    """How many tasks of `correlation_id` have 0, 1, 2... side-effect rows."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT n, count(*) FROM (SELECT t.id, count(e.task_id) AS n FROM tasks t "
                "LEFT JOIN task_effects e ON e.task_id = t.id AND e.task_created_at = t.created_at "
                "WHERE t.correlation_id = :c GROUP BY t.id) per GROUP BY n"
            ),
            {"c": correlation_id},
        )
        return {int(n): int(count) for n, count in rows}


def queued_messages(broker: Redis) -> int:
    """Messages waiting in the tasks queue's priority lists of the Celery broker."""
    return sum(int(broker.llen(key)) for key in broker.scan_iter("tasks*"))


@contextmanager
def stopped(*components: str) -> Iterator[None]:
    """Stop stack components for the block; start them again whatever happens."""
    for name in components:
        stack("stop", name)
    try:
        yield
    finally:
        for name in components:
            stack("start", name)


def process_info(name: str) -> tuple[str, int]:
    """The supervisord state (RUNNING, STARTING...) and pid (0 when none) of instance `name`."""
    socket = REPO / ".stack" / "run" / "supervisor.sock"
    transport = SupervisorTransport(None, None, f"unix://{socket}")
    with xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport) as proxy:
        info = proxy.supervisor.getProcessInfo(name)
    return str(info["statename"]), int(info["pid"])


def running_pid(name: str, timeout_s: float = 30) -> int:
    """The pid of instance `name` once supervisord reports it RUNNING."""
    deadline = time.monotonic() + timeout_s
    while True:
        state, pid = process_info(name)
        if state == "RUNNING":
            return pid
        assert time.monotonic() < deadline, f"{name} is {state}, not RUNNING"
        time.sleep(0.1)


SCALE_FILE = REPO / ".stack" / "run" / "scale"


def stack_scale() -> dict[str, str]:
    """The counts the stack runs at (WORKERS, BRIDGES...), as `ops/stack.sh` saved them."""
    lines = SCALE_FILE.read_text().splitlines() if SCALE_FILE.exists() else []
    return dict(line.split("=", 1) for line in lines if "=" in line)


def stack_with(*args: str, **counts: str) -> None:
    """Run `ops/stack.sh ARGS` with counts such as WORKERS="2" in its environment."""
    subprocess.run(
        [str(REPO / "ops" / "stack.sh"), *args],
        env={**os.environ, **counts},
        check=True,
        timeout=300,
    )


def scrape(url: str, name: str, timeout_s: float = 30, **labels: str) -> float:
    """metric_total, retried while the endpoint does not answer (an instance restarting)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return metric_total(url, name, **labels)
        except requests.ConnectionError:
            assert time.monotonic() < deadline, f"{url} did not answer within {timeout_s}s"
            time.sleep(0.2)
