"""Two of everything on one machine: two relays, two bridges (a third joins midway) and two
worker nodes (the second under a hostname of its own, ops/stack_apps.sh) drain 20,000 tasks
while one bridge and one whole worker node are killed with SIGKILL. Every task completes once,
and every instance takes a share. It scales the stack up and back to the counts it found; run
it under the stack lock when others share the stack."""

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import requests
import sqlalchemy as sa

from db.engine import make_engine
from tests.conftest import STACK_DATABASE_URL
from tests.e2e.conftest import REPO
from tests.e2e.drills import (
    MAINTENANCE_METRICS,
    effects_per_task,
    running_pid,
    scrape,
    stack_scale,
    stack_with,
    statuses,
    submit_batches,
    wait_terminal,
)
from tests.e2e.test_flower import credentials as flower_credentials

TOTAL = int(os.environ.get("MANY_INSTANCES_TASKS", "20000"))
BRIDGES = {"bridge": 9102, "bridge-2": 9112, "bridge-3": 9122}
WORKERS = {"worker": 9103, "worker-2": 9105}
RELAYS = {"relay": 9101, "relay-2": 9111}
DISPATCHED = ("bridge_records_consumed", {"outcome": "dispatched"})
COMPLETED = ("task_processing_time_count", {"outcome": "completed"})
DUPLICATES = ("task_duplicate_deliveries", {})


def _metrics(port: int) -> str:
    return f"http://127.0.0.1:{port}/metrics"


def _count(port: int, metric: tuple[str, dict[str, str]]) -> float:
    name, labels = metric
    return scrape(_metrics(port), name, **labels)


@pytest.fixture(scope="module")
def stack_db() -> Iterator[sa.Engine]:
    engine = make_engine(STACK_DATABASE_URL, app_name="tests")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def two_of_everything() -> Iterator[None]:
    found = stack_scale()
    stack_with("up", WORKERS="2", BRIDGES="2", RELAYS="2")
    try:
        yield
    finally:
        stack_with("up", **{"WORKERS": "1", "BRIDGES": "1", "RELAYS": "1", **found})


class Shares:
    """Per-instance counter increases, summed over the lives of instances that were killed."""

    def __init__(self, ports: dict[str, int], metric: tuple[str, dict[str, str]]) -> None:
        self.ports, self.metric = ports, metric
        self.base = {name: _count(port, metric) for name, port in ports.items()}
        self.earlier: dict[str, float] = dict.fromkeys(ports, 0.0)

    def before_kill(self, name: str) -> None:
        """The last reading of a life about to end; the next life counts from zero."""
        self.earlier[name] += _count(self.ports[name], self.metric) - self.base[name]
        self.base[name] = 0.0

    def totals(self) -> dict[str, float]:
        return {
            name: self.earlier[name] + _count(port, self.metric) - self.base[name]
            for name, port in self.ports.items()
        }


def _pg_counters(engine: sa.Engine) -> dict[str, float]:
    """WAL bytes written so far, and the commits and row writes of database `tasks`."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') AS wal_bytes, xact_commit, "
                "tup_inserted + tup_updated + tup_deleted AS row_writes "
                "FROM pg_stat_database WHERE datname = current_database()"
            )
        ).one()
    return {key: float(value) for key, value in row._mapping.items()}


def _created(engine: sa.Engine, tag: str) -> int:
    return sum(statuses(engine, tag).values())


def _done(engine: sa.Engine, tag: str) -> int:
    return statuses(engine, tag).get("COMPLETED", 0)


def _wait(check, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout_s}s: {what}"
        time.sleep(0.5)


def _status_lines() -> dict[str, str]:
    out = subprocess.run(
        [str(REPO / "ops" / "stack.sh"), "status"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip()}


def _prometheus_up() -> set[str]:
    """The `instance` labels of the targets Prometheus scrapes and finds up."""
    answer = requests.get("http://127.0.0.1:9090/api/v1/targets", timeout=10).json()
    return {t["labels"]["instance"] for t in answer["data"]["activeTargets"] if t["health"] == "up"}


def _flower_workers() -> set[str]:
    user, password = flower_credentials().split(":", 1)
    answer = requests.get(
        "http://127.0.0.1:5555/api/workers?refresh=1", auth=(user, password), timeout=30
    )
    assert answer.status_code == 200, answer.text
    return set(answer.json())


def test_two_of_each_show_in_status_prometheus_and_flower(api, two_of_everything):
    states = _status_lines()
    for name in ("worker", "worker-2", "bridge", "bridge-2", "relay", "relay-2"):
        assert states.get(name) == "running", (name, states)
    want = {
        f"127.0.0.1:{port}"
        for port in {**WORKERS, **RELAYS, "bridge": 9102, "bridge-2": 9112}.values()
    }
    deadline = time.monotonic() + 90
    while not want <= (up := _prometheus_up()):
        assert time.monotonic() < deadline, f"Prometheus does not see {want - up} up"
        time.sleep(2)
    deadline = time.monotonic() + 60
    while len(nodes := {w.split("@")[0] for w in _flower_workers()} & {"worker1", "worker2"}) < 2:
        assert time.monotonic() < deadline, f"Flower sees only {nodes}"
        time.sleep(2)


@pytest.mark.timeout(1500)
def test_twenty_thousand_tasks_complete_once_on_two_of_everything_while_instances_die(
    api, stack_db, two_of_everything
):
    # Every instance serves its metrics (a missing sample reads 0 once the endpoint answers).
    for port in {**RELAYS, **WORKERS, "bridge": 9102, "bridge-2": 9112}.values():
        scrape(_metrics(port), "task_duplicate_deliveries", timeout_s=60)
    dispatched = Shares({k: v for k, v in BRIDGES.items() if k != "bridge-3"}, DISPATCHED)
    completed = Shares(WORKERS, COMPLETED)
    duplicates = Shares(WORKERS, DUPLICATES)
    tag = f"many-{uuid.uuid4().hex[:8]}"
    pg_before = _pg_counters(stack_db)
    began = time.monotonic()
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            submit_batches(TOTAL, {"type": "echo", "payload": {"drill": tag}}, correlation_id=tag)
        except BaseException as exc:
            errors.append(exc)

    submitter = threading.Thread(target=submit, daemon=True)
    submitter.start()

    _wait(lambda: _created(stack_db, tag) >= TOTAL // 5, 300, "a fifth of the tasks submitted")
    dispatched.before_kill("bridge-2")
    killed_pid = running_pid("bridge-2")
    os.kill(killed_pid, signal.SIGKILL)
    bridge_killed = time.monotonic() - began
    _wait(lambda: running_pid("bridge-2") != killed_pid, 30, "bridge-2 running again")
    # A third bridge joins the group while records still arrive.
    stack_with("start", "bridge", BRIDGES="3")
    joined = time.monotonic() - began
    bridge3 = Shares({"bridge-3": BRIDGES["bridge-3"]}, DISPATCHED)

    _wait(lambda: _done(stack_db, tag) >= TOTAL // 4, 600, "a quarter of the tasks completed")
    node = running_pid("worker-2")
    completed.before_kill("worker-2")
    duplicates.before_kill("worker-2")
    # The whole node at once, parent and prefork children, as when its machine is gone.
    os.killpg(node, signal.SIGKILL)
    worker_killed = time.monotonic() - began
    # The attempts it ran come back through their leases; the messages it had received and
    # not claimed, through the reconciler's orphan rule (celery_tasks/orphans.py), well before
    # the broker's hour of visibility timeout; a message it had just taken off the queue and
    # not yet recorded as held, through the vanished rule (celery_tasks/vanished.py).
    wait_terminal(stack_db, tag, TOTAL, timeout_s=1200)
    took = time.monotonic() - began
    restored = scrape(MAINTENANCE_METRICS, "reconcile_orphans_restored")
    vanished = scrape(MAINTENANCE_METRICS, "reconcile_vanished_redispatched")
    # The statistics collector reports a transaction's counts within a second or so.
    time.sleep(2)
    pg_after = _pg_counters(stack_db)
    pg_per_task = {k: (pg_after[k] - pg_before[k]) / TOTAL for k in pg_before}
    submitter.join(60)
    assert not errors, errors
    assert statuses(stack_db, tag) == {"COMPLETED": TOTAL}
    assert effects_per_task(stack_db, tag) == {1: TOTAL}
    bridges = {**dispatched.totals(), **bridge3.totals()}
    workers = completed.totals()
    dups = duplicates.totals()
    assert bridges["bridge"] > 0
    assert bridges["bridge-2"] > 0
    assert workers["worker"] > 0
    assert workers["worker-2"] > 0
    print(
        f"{TOTAL} tasks on relays {list(RELAYS)}: all COMPLETED once in {took:.0f}s; "
        f"bridge-2 killed at {bridge_killed:.0f}s, bridge-3 joined at {joined:.0f}s, "
        f"worker-2 killed at {worker_killed:.0f}s ({restored:.0f} held messages restored by "
        f"and {vanished:.0f} vanished ones published again by the reconciler since its start); "
        f"dispatched per bridge {bridges}; completed per worker node {workers}; "
        f"duplicate deliveries {dups} (total {sum(dups.values()):.0f}); PostgreSQL per task "
        f"(whole database, beat's jobs included): {pg_per_task['wal_bytes']:.0f} WAL bytes, "
        f"{pg_per_task['xact_commit']:.2f} commits, {pg_per_task['row_writes']:.2f} row writes"
    )
