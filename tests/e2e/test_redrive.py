"""`taskctl dlt list|redrive` against the running stack and the real `tasks-dlt` topic."""

import json
import signal
import subprocess
import time
import uuid

from tests.e2e.conftest import REPO, get, submit, wait_for
from tests.e2e.test_retries import dlt_records

TASKCTL = str(REPO / ".venv" / "bin" / "taskctl")


def taskctl(*args: str) -> str:
    out = subprocess.run(
        [TASKCTL, "dlt", *args], capture_output=True, text=True, timeout=120, check=True
    )
    return out.stdout


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


def test_interrupted_redrive_run_again_redrives_nothing_twice(api, http):
    batch, ids = failed_batch(http, 4)
    command = [TASKCTL, "dlt", "redrive", "--payload", f"batch={batch}", "--rate", "1", "--yes"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # At one re-drive a second, killing it right after the first leaves the others FAILED.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(get(http, i)["redrive_count"] for i in ids):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    first = [get(http, i)["redrive_count"] for i in ids]
    assert 0 < sum(first) < 4, first
    out = taskctl("redrive", "--payload", f"batch={batch}", "--yes")
    assert f"re-drove {4 - sum(first)} task(s)" in out
    views = wait_for(http, ids, timeout_s=60)
    assert {v["status"] for v in views.values()} == {"COMPLETED"}
    assert {v["redrive_count"] for v in views.values()} == {1}


def test_redrive_rejects_bad_filters(api):
    result = subprocess.run(
        [TASKCTL, "dlt", "redrive", "--task-id", "nope", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "not a task id" in result.stderr
