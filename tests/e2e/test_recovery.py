"""Recovery drills on the running stack: a flushed broker, a whole worker killed on another
hostname, early deliveries of a retry, unproducible records, a backlog that must not delay the
maintenance lane, and failed tasks whose topic records expired."""

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from celery_tasks.config import make_celery
from celery_tasks.send import send_execute
from celery_tasks.settings import BrokerSettings
from db.engine import make_engine
from db.topics import DLT_TOPIC
from tests.conftest import KAFKA, STACK_DATABASE_URL
from tests.e2e.conftest import API, REPO, STACK_BROKER_URL, get, stack, submit, taskctl, wait_for
from tests.e2e.drills import (
    MAINTENANCE_METRICS,
    RELAY_METRICS,
    duplicates,
    effects_per_task,
    metric_total,
    queued_messages,
    statuses,
    stopped,
    submit_batches,
    wait_terminal,
)

VENV_BIN = REPO / ".venv" / "bin"


@pytest.fixture(scope="module")
def stack_db() -> Iterator[sa.Engine]:
    engine = make_engine(STACK_DATABASE_URL, app_name="tests")
    yield engine
    engine.dispose()


def test_five_thousand_tasks_whose_messages_were_flushed_all_complete_once(
    api, stack_db, stack_broker
):
    tag = f"flush-{uuid.uuid4().hex[:8]}"
    with stopped("worker"):
        submit_batches(5000, {"type": "echo", "payload": {"drill": tag}}, correlation_id=tag)
        deadline = time.monotonic() + 120
        while queued_messages(stack_broker) < 5000:
            assert time.monotonic() < deadline, f"only {queued_messages(stack_broker)} queued"
            time.sleep(0.5)
        vanished_before = metric_total(MAINTENANCE_METRICS, "reconcile_vanished_redispatched")
        stack_broker.flushdb()
    # Not a speed check (the benchmark measures the drain, and 5,000 tasks take over a minute
    # on a slow machine): the bound only says the drill did not hang. The lost-before-an-epoch
    # rule must be what recovered them, well before the vanished rule (120 s) would see one.
    took = wait_terminal(stack_db, tag, 5000, timeout_s=600)
    assert statuses(stack_db, tag) == {"COMPLETED": 5000}
    assert effects_per_task(stack_db, tag) == {1: 5000}
    vanished_after = metric_total(MAINTENANCE_METRICS, "reconcile_vanished_redispatched")
    vanished = vanished_after - vanished_before
    assert vanished == 0, f"{vanished:.0f} tasks were found only by the vanished rule"
    print(f"5000 flushed tasks completed {took:.1f}s after the worker was back")


def _drill_worker(node: str, metrics_port: int) -> subprocess.Popen[bytes]:
    """A second worker node under another hostname (its own UTS namespace), as a pod has."""
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "CELERY_TASKS_METRICS_PORT": str(metrics_port),
        "CELERY_TASKS_FAULT_INJECTION": "1",
        "LOG_FORMAT": "json",
        "LOG_SERVICE": node,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = (
        f"hostname {node} && exec {VENV_BIN}/celery -A celery_tasks.app worker -Q tasks "
        f"--concurrency=4 --hostname={node}@{node} --loglevel=INFO"
    )
    # The child keeps its own copy of the log's descriptor.
    with open(REPO / ".stack" / "logs" / f"{node}.log", "ab") as log:
        return subprocess.Popen(
            ["unshare", "--uts", "sh", "-c", command],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _owners(engine: sa.Engine, ids: list[str]) -> list[str | None]:
    with engine.connect() as conn:
        return [
            conn.execute(
                sa.text("SELECT lease_owner FROM tasks WHERE id = :i"), {"i": i}
            ).scalar_one()
            for i in ids
        ]


def test_a_whole_worker_killed_on_another_host_has_its_tasks_rerun_within_the_lease(
    api, http, stack_db
):
    node = f"drill-{uuid.uuid4().hex[:6]}"
    with stopped("worker"):
        # Beyond the ports of the stack's instances (relay-2 serves 9111).
        drill = _drill_worker(node, 9190)
        try:
            ids = [
                submit(http, {"type": "sleep", "payload": {"seconds": 2}})["id"] for _ in range(4)
            ]
            deadline = time.monotonic() + 60
            while not all(o and o.startswith(f"{node}/") for o in _owners(stack_db, ids)):
                assert time.monotonic() < deadline, _owners(stack_db, ids)
                time.sleep(0.1)
        finally:
            # The whole node at once, parent and children, as when its host or pod is gone.
            os.killpg(drill.pid, signal.SIGKILL)
            drill.wait(10)
        killed = time.monotonic()
    views = wait_for(http, ids, timeout_s=40 - (time.monotonic() - killed))
    took = time.monotonic() - killed
    assert {v["status"] for v in views.values()} == {"COMPLETED"}
    assert {v["attempts"] for v in views.values()} == {2}
    with stack_db.connect() as conn:
        effects = conn.execute(
            sa.text("SELECT count(*) FROM task_effects WHERE task_id = ANY(:ids)"),
            {"ids": [uuid.UUID(i) for i in ids]},
        ).scalar_one()
    assert effects == 4
    print(f"4 tasks of a killed worker on host {node} completed {took:.1f}s after the kill")


def test_an_early_delivery_of_a_retrying_task_does_not_start_its_next_attempt(api, http, stack_db):
    app = make_celery(BrokerSettings(broker_url=STACK_BROKER_URL))
    task = submit(http, {"type": "fail", "payload": {"times": 1}})
    wait_for(http, [task["id"]], done=lambda t: t["status"] == "RETRYING", timeout_s=30)
    with stack_db.begin() as conn:
        due = conn.execute(
            sa.text(
                "UPDATE tasks SET next_attempt_at = now() + interval '12 seconds' "
                "WHERE id = :i AND status = 'RETRYING' RETURNING next_attempt_at"
            ),
            {"i": task["id"]},
        ).scalar_one()
    before = duplicates()
    for _ in range(3):
        send_execute(app, task["id"], "fail")
    time.sleep(6)
    view = get(http, task["id"])
    assert (view["status"], view["attempts"]) == ("RETRYING", 1)
    assert duplicates() - before >= 3
    done = wait_for(http, [task["id"]], timeout_s=60)[task["id"]]
    assert (done["status"], done["attempts"]) == ("COMPLETED", 2)
    # The second attempt ran, and so finished, only once it was due.
    assert datetime.fromisoformat(done["finished_at"]) >= due


def test_unproducible_records_are_parked_and_the_next_hundred_tasks_complete(api, http, stack_db):
    before = metric_total(RELAY_METRICS, "relay_parked_records")
    key = str(uuid.uuid4())
    with stack_db.begin() as conn:
        rows = conn.execute(
            sa.text(
                "INSERT INTO outbox (topic, key, value, headers) VALUES "
                "('tasks', :k, CAST(:big AS jsonb), '{}'), "
                "(:missing, :k, '{}', '{}') RETURNING id"
            ),
            {
                "k": key,
                "big": json.dumps({"id": key, "blob": "x" * 1_100_000}),
                "missing": f"no-such-topic-{key[:8]}",
            },
        ).all()
        conn.execute(sa.text("SELECT pg_notify('outbox', '')"))
    parked_ids = sorted(r[0] for r in rows)
    started = time.monotonic()
    ids = [submit(http, {"type": "echo", "payload": {"n": n}})["id"] for n in range(100)]
    views = wait_for(http, ids, timeout_s=30)
    took = time.monotonic() - started
    assert {v["status"] for v in views.values()} == {"COMPLETED"}
    out = subprocess.run(
        [str(VENV_BIN / "taskctl"), "outbox", "parked", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    listed = {r["id"]: r for r in map(json.loads, out.stdout.splitlines())}
    assert set(parked_ids) <= set(listed)
    assert "exceeds the limit" in listed[parked_ids[0]]["reason"]
    assert "does not exist" in listed[parked_ids[1]]["reason"]
    deadline = time.monotonic() + 15
    while metric_total(RELAY_METRICS, "relay_parked_records") - before < 2:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    with stack_db.begin() as conn:
        conn.execute(sa.text("DELETE FROM outbox WHERE id = ANY(:ids)"), {"ids": parked_ids})
    print(f"100 tasks completed {took:.1f}s after two unproducible records were queued")


def _submit_raw(http, body: dict) -> str:
    # UTF-8 as is: requests' json= would escape each non-ASCII character to six bytes.
    response = http.post(
        f"{API}/api/tasks",
        data=json.dumps(body, ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def test_failures_too_large_for_a_record_reach_the_dlt_without_their_payload(api, http):
    # 800 kB of two-byte characters fits a record; 1 MB of payload (under the API's 1 MiB
    # body limit) does not, so its record leaves the payload out and points to the row.
    small = {
        "id": _submit_raw(
            http, {"type": "fail", "payload": {"permanent": True, "text": "ж" * 400_000}}
        )
    }
    large = {
        "id": _submit_raw(
            http, {"type": "fail", "payload": {"permanent": True, "text": "x" * 1_000_000}}
        )
    }
    views = wait_for(http, [small["id"], large["id"]], timeout_s=60)
    assert {v["status"] for v in views.values()} == {"FAILED"}
    from tests.e2e.test_retries import dlt_records

    (small_record,) = dlt_records(small["id"])
    (large_record,) = dlt_records(large["id"])
    assert small_record.payload["text"] == "ж" * 400_000
    assert large_record.payload == {}
    assert get(http, large["id"])["payload"]["text"] == "x" * 1_000_000


def test_a_scheduled_task_is_dispatched_on_time_behind_twenty_thousand_urgent_tasks(
    api, http, stack_db
):
    tag = f"urgent-{uuid.uuid4().hex[:8]}"
    runs_before = metric_total(MAINTENANCE_METRICS, "maintenance_runs", task="tasks.reconcile")
    # Priority 9 runs first on the tasks queue; beat's jobs have a lane of their own.
    urgent = {"type": "echo", "payload": {"drill": tag}, "priority": 9}
    submit_batches(20_000, urgent, correlation_id=tag)
    run_at = datetime.now(UTC) + timedelta(seconds=10)
    scheduled = submit(
        http, {"type": "echo", "payload": {"scheduled": tag}, "run_at": run_at.isoformat()}
    )
    assert scheduled["status"] == "SCHEDULED"
    watch_started = time.monotonic()
    while get(http, scheduled["id"])["status"] == "SCHEDULED":
        assert datetime.now(UTC) < run_at + timedelta(seconds=3), "not dispatched on time"
        time.sleep(0.2)
    dispatched_late = datetime.now(UTC) - run_at
    time.sleep(max(0.0, 20 - (time.monotonic() - watch_started)))
    runs = metric_total(MAINTENANCE_METRICS, "maintenance_runs", task="tasks.reconcile")
    waiting = statuses(stack_db, tag).get("PENDING", 0)
    # 20 s at a 5 s interval while the urgent tasks wait: every run happened (one may fall on
    # either edge of the window).
    assert waiting > 0, "the backlog drained before the window closed; the drill proves nothing"
    assert runs - runs_before >= 3
    assert dispatched_late < timedelta(seconds=3)
    wait_terminal(stack_db, tag, 20_000, timeout_s=900)
    final = wait_for(http, [scheduled["id"]], timeout_s=120)[scheduled["id"]]
    assert final["status"] == "COMPLETED"
    print(f"scheduled task dispatched {dispatched_late.total_seconds():.1f}s after run_at")


def _expire_dlt_records() -> None:
    """Delete every record `tasks-dlt` holds now, as its retention would."""
    admin = AdminClient({"bootstrap.servers": KAFKA})
    partitions = admin.list_topics(DLT_TOPIC, timeout=10).topics[DLT_TOPIC].partitions
    latest = admin.list_offsets(
        {TopicPartition(DLT_TOPIC, p): OffsetSpec.latest() for p in partitions}
    )
    ends = [TopicPartition(DLT_TOPIC, tp.partition, f.result().offset) for tp, f in latest.items()]
    for future in admin.delete_records(ends).values():
        future.result(timeout=30)


def test_failed_tasks_are_listed_and_redriven_from_postgresql_after_their_record_expired(api, http):
    batch = uuid.uuid4().hex
    payload = {"times": 10, "permanent_after_redrive": True, "batch": batch}
    task = submit(http, {"type": "fail", "payload": payload, "max_attempts": 1})
    assert wait_for(http, [task["id"]], timeout_s=60)[task["id"]]["error_type"] == "RetryableError"
    assert "re-drove 1 task(s)" in taskctl("redrive", "--payload", f"batch={batch}", "--yes")
    view = wait_for(
        http, [task["id"]], done=lambda t: t["status"] == "FAILED" and t["redrive_count"] == 1
    )[task["id"]]
    assert view["error_type"] == "PermanentError"
    # Expire every record of the topic, as retention would.
    _expire_dlt_records()
    topic_json = taskctl("list", "--topic", "--json", "--payload", f"batch={batch}")
    assert topic_json.strip() == ""
    current = [
        json.loads(line)
        for line in taskctl("list", "--json", "--payload", f"batch={batch}").splitlines()
    ]
    assert [r["id"] for r in current] == [task["id"]]
    # Only the latest failure counts: the earlier RetryableError no longer matches.
    filters = ("--payload", f"batch={batch}")
    assert taskctl("list", "--json", "--error-type", "RetryableError", *filters) == ""
    matched = taskctl("redrive", "--error-type", "PermanentError", *filters, "--dry-run")
    assert "1 task(s) would be re-driven" in matched


def test_a_handler_that_succeeded_while_postgresql_restarted_is_recorded_once(api, http, stack_db):
    task = submit(http, {"type": "sleep", "payload": {"seconds": 3}})
    wait_for(http, [task["id"]], done=lambda t: t["status"] == "PROCESSING", timeout_s=30)
    stack("stop", "postgres")
    try:
        # The handler finishes meanwhile; its commit meets a database that is not there.
        time.sleep(6)
    finally:
        stack("start", "postgres")
        stack("start", "replica")
    view = wait_for(http, [task["id"]], timeout_s=60)[task["id"]]
    assert (view["status"], view["attempts"]) == ("COMPLETED", 1)
    stack_db.dispose()
    with stack_db.connect() as conn:
        effects = conn.execute(
            sa.text("SELECT count(*) FROM task_effects WHERE task_id = :i"), {"i": task["id"]}
        ).scalar_one()
    assert effects == 1
