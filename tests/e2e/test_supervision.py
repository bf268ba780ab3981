"""supervisord keeps the stack's application processes running: each one killed with SIGKILL
runs again within 10 s with no command typed, and tasks keep completing. Run under the stack
lock when others share the stack (it kills its processes)."""

import os
import signal
import time

import pytest
import requests

from tests.e2e.conftest import API, submit, wait_for
from tests.e2e.drills import process_info, running_pid

# The API's master, the worker's parent: the process supervisord started, not its children.
PROCESSES = ("api", "relay", "bridge", "worker", "maintenance", "beat", "flower", "prometheus")
READY = {
    "api": f"{API}/healthz",
    "flower": "http://127.0.0.1:5555/metrics",
    "prometheus": "http://127.0.0.1:9090/-/ready",
}


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        return False
    return True


@pytest.mark.timeout(600)
def test_every_application_process_killed_with_sigkill_runs_again_within_ten_seconds(api, http):
    restarted: dict[str, float] = {}
    ready: dict[str, float] = {}
    for name in PROCESSES:
        pid = running_pid(name)
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        while True:
            state, new_pid = process_info(name)
            if state == "RUNNING" and new_pid not in (0, pid):
                break
            assert time.monotonic() - killed < 10, f"{name} is {state} 10 s after kill -9"
            time.sleep(0.05)
        restarted[name] = time.monotonic() - killed
        if name in READY:
            while not _answers(READY[name]):
                assert time.monotonic() - killed < 60, f"{name} does not answer after kill -9"
                time.sleep(0.1)
        ready[name] = time.monotonic() - killed
        task = submit(http, {"type": "echo", "payload": {"after_kill": name}})
        view = wait_for(http, [task["id"]], timeout_s=60)[task["id"]]
        assert view["status"] == "COMPLETED", (name, view)
    print(
        "kill -9 -> RUNNING again (s): "
        + ", ".join(f"{n} {restarted[n]:.1f} (serving {ready[n]:.1f})" for n in PROCESSES)
    )
