"""`taskctl dlt list|redrive` against the running stack and the real `tasks-dlt` topic.

`dlt redrive` is a client of the API's re-drives (TASKCTL_API_URL, TASKCTL_API_KEY): the
re-drive itself runs on the stack's maintenance lane.
"""

import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from db.engine import make_engine
from tests.conftest import STACK_DATABASE_URL
from tests.e2e.conftest import (
    API,
    REPO,
    TASKCTL,
    get,
    stack,
    submit,
    taskctl,
    taskctl_env,
    wait_for,
)
from tests.e2e.drills import statuses, submit_batches, wait_terminal
from tests.e2e.test_retries import dlt_records


@pytest.fixture(scope="module")
def stack_db() -> Iterator[sa.Engine]:
    engine = make_engine(STACK_DATABASE_URL, app_name="tests")
    yield engine
    engine.dispose()


def redrives_of(http, batch: str) -> list[dict[str, Any]]:
    """The stack's re-drives whose filter is the payload `batch=<batch>`, newest first."""
    response = http.get(f"{API}/api/redrives", timeout=10)
    assert response.status_code == 200, response.text
    return [
        r
        for r in response.json()["items"]
        if r["filter"].get("payload", {}).get("batch") == batch and not r["dry_run"]
    ]


def failed_batch(http, count: int, **payload) -> tuple[str, list[str]]:
    """`count` tasks that fail permanently until re-driven once, tagged with a fresh batch id."""
    batch = uuid.uuid4().hex
    ids = []
    for i in range(count):
        body = {"permanent": True, "healed_after_redrives": 1, "batch": batch, "n": i, **payload}
        ids.append(submit(http, {"type": "fail", "payload": body})["id"])
    views = wait_for(http, ids, timeout_s=60)
    assert {v["status"] for v in views.values()} == {"FAILED"}
    for task_id in ids:
        assert dlt_records(task_id), f"no DLT record for {task_id}"
    return batch, ids


def test_dlt_list_shows_records_as_json_with_filters(api, http):
    batch, ids = failed_batch(http, 2)
    lines = taskctl("list", "--json", "--type", "fail", "--payload", f"batch={batch}").splitlines()
    records = [json.loads(line) for line in lines]
    assert sorted(r["id"] for r in records) == sorted(ids)
    assert {r["error_type"] for r in records} == {"PermanentError"}
    assert {r["attempts"] for r in records} == {1}
    assert all(r["failed_at"] and r["correlation_id"] for r in records)


def test_redrive_dry_run_changes_nothing(api, http):
    batch, ids = failed_batch(http, 2)
    out = taskctl("redrive", "--payload", f"batch={batch}", "--dry-run")
    assert "2 task(s) would be re-driven" in out
    assert sorted(json.loads(line)["would_redrive"] for line in out.splitlines()[:2]) == sorted(ids)
    time.sleep(2)
    assert {get(http, i)["status"] for i in ids} == {"FAILED"}


def test_filtered_redrive_moves_exactly_the_matching_tasks_and_they_complete(api, http):
    batch, picked = failed_batch(http, 2, pick=True)
    _, others = failed_batch(http, 2, pick=False)
    other_batch_ids = others
    out = taskctl("redrive", "--payload", f"batch={batch}", "--payload", "pick=true", "--yes")
    assert "re-drove 2 task(s)" in out
    views = wait_for(http, picked, timeout_s=60)
    for view in views.values():
        assert (view["status"], view["redrive_count"], view["attempts"]) == ("COMPLETED", 1, 1)
        assert view["result"]["healed_after_redrives"] == 1
    assert {get(http, i)["status"] for i in other_batch_ids} == {"FAILED"}
    # Running it again finds them no longer FAILED and re-drives nothing.
    assert "nothing to re-drive" in taskctl(
        "redrive", "--payload", f"batch={batch}", "--payload", "pick=true", "--yes"
    )


def test_a_redrive_goes_on_when_the_command_following_it_is_killed(api, http):
    batch, ids = failed_batch(http, 4)
    command = [TASKCTL, "dlt", "redrive", "--payload", f"batch={batch}", "--rate", "1", "--yes"]
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=taskctl_env()
    )
    # At one re-drive a second, killing it right after the first leaves the others to come.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(get(http, i)["redrive_count"] for i in ids):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert sum(get(http, i)["redrive_count"] for i in ids) < 4
    # The re-drive runs on the maintenance lane, not in the command: it finishes alone.
    views = wait_for(http, ids, done=lambda v: v["status"] == "COMPLETED", timeout_s=60)
    assert {v["redrive_count"] for v in views.values()} == {1}
    (run,) = redrives_of(http, batch)
    assert (run["state"], run["matched"], run["redriven"], run["skipped"]) == (
        "COMPLETED",
        4,
        4,
        0,
    )
    # Running it again finds them no longer FAILED and re-drives nothing.
    assert "nothing to re-drive" in taskctl("redrive", "--payload", f"batch={batch}", "--yes")


def test_redrive_without_an_api_key_says_so(api):
    env = {k: v for k, v in taskctl_env().items() if k != "TASKCTL_API_KEY"}
    result = subprocess.run(
        [TASKCTL, "dlt", "redrive", "--type", "fail", "--yes"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 1
    assert "set TASKCTL_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_redrive_rejects_bad_filters(api):
    result = subprocess.run(
        [TASKCTL, "dlt", "redrive", "--task-id", "nope", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=taskctl_env(),
    )
    assert result.returncode == 2
    assert "not a task id" in result.stderr


def _kill_maintenance_worker() -> int:
    """SIGKILL every process of the stack's maintenance worker (parent and pool), as when its
    host is gone; returns how many there were."""
    pattern = f"{REPO}/.venv/bin/celery -A celery_tasks.app worker .*-Q maintenance"
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, check=False)
    pids = [int(p) for p in found.stdout.split()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def test_a_thousand_failed_tasks_redriven_at_a_rate_resume_after_the_lane_is_killed(
    api, http, stack_db
):
    tag = f"redrive-{uuid.uuid4().hex[:8]}"
    payload = {"permanent": True, "healed_after_redrives": 1, "batch": tag}
    body = {"type": "fail", "payload": payload}
    submit_batches(1000, body, correlation_id=tag)
    wait_terminal(stack_db, tag, 1000, timeout_s=180)
    assert statuses(stack_db, tag) == {"FAILED": 1000}

    response = http.post(
        f"{API}/api/redrives", json={"filter": {"payload": {"batch": tag}}, "rate": 50}, timeout=30
    )
    assert response.status_code == 202, response.text
    link = f"{API}{response.json()['links']['self']}"
    started = time.monotonic()

    def progress() -> dict[str, Any]:
        reply = http.get(link, timeout=10)
        assert reply.status_code == 200, reply.text
        view: dict[str, Any] = reply.json()
        return view

    seen = [progress()]
    while seen[-1]["redriven"] < 500:
        assert time.monotonic() - started < 120, seen[-1]
        time.sleep(0.5)
        seen.append(progress())
    assert _kill_maintenance_worker() >= 1
    halfway = progress()
    assert halfway["state"] == "RUNNING" and 500 <= halfway["redriven"] < 1000, halfway
    stack("start", "maintenance")

    while seen[-1]["state"] in ("PENDING", "RUNNING"):
        assert time.monotonic() - started < 240, seen[-1]
        time.sleep(0.5)
        seen.append(progress())
    took = time.monotonic() - started
    final = seen[-1]
    assert (final["state"], final["matched"], final["redriven"]) == ("COMPLETED", 1000, 1000)
    assert (final["skipped"], final["failed"], final["pending"]) == (0, 0, 0)
    # Progress was readable all along and never went back, even across the kill.
    counts = [v["redriven"] for v in seen]
    assert counts == sorted(counts) and any(0 < c < 1000 for c in counts)
    # Fifty a second: a thousand take at least twenty seconds, whatever the restart cost.
    assert took >= 1000 / 50 * 0.9, took

    wait_terminal(stack_db, tag, 1000, timeout_s=180)
    assert statuses(stack_db, tag) == {"COMPLETED": 1000}
    with stack_db.connect() as conn:
        redrives = conn.execute(
            sa.text(
                "SELECT redrive_count, count(*) FROM tasks WHERE correlation_id = :c "
                "GROUP BY redrive_count"
            ),
            {"c": tag},
        ).all()
        attempts = conn.execute(
            sa.text(
                "SELECT n, count(*) FROM (SELECT a.task_id, count(*) AS n FROM task_attempts a "
                "JOIN tasks t ON t.id = a.task_id AND t.created_at = a.task_created_at "
                "WHERE t.correlation_id = :c GROUP BY a.task_id) per_task GROUP BY n"
            ),
            {"c": tag},
        ).all()
    # Each task re-driven exactly once: its failed run, then its one re-driven run.
    assert dict(redrives) == {1: 1000}
    assert dict(attempts) == {2: 1000}
    print(f"1000 failed tasks re-driven at 50/s across a killed lane in {took:.1f}s")
