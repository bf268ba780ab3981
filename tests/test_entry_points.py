"""Each process's entry point: a bad setting stops it at start naming the variable, and only the
worker loads the handlers' bodies. Runs the real commands in subprocesses (no services needed:
they stop before connecting to anything)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

COMMANDS = {
    "api": [sys.executable, "-m", "webapp.serve"],
    "relay": [sys.executable, "-m", "relay"],
    "relay (old alias)": [sys.executable, "-m", "webapp.relay"],
    "bridge": [sys.executable, "-m", "bridge"],
    "worker": [str(BIN / "celery"), "-A", "celery_tasks.app", "worker"],
    "beat": [str(BIN / "celery"), "-A", "celery_tasks.app", "beat"],
    "taskctl": [str(BIN / "taskctl"), "get", "01a22f60-3164-706d-baf4-54dd4d3f589e"],
}
# One bad value each process reads; LOG_LEVEL is read by all of them.
BAD = {
    "api": ("WEBAPP_MAX_BODY_BYTES", "1MB"),
    "relay": ("RELAY_BATCH_SIZE", "many"),
    "relay (old alias)": ("RELAY_DELIVERY_TIMEOUT_MS", "15s"),
    "bridge": ("BRIDGE_BATCH_SIZE", "-5"),
    "worker": ("CELERY_TASKS_TIME_LIMIT_S", "90s"),
    "beat": ("CELERY_TASKS_RECONCILE_INTERVAL_S", "often"),
    "taskctl": ("LOG_LEVEL", "LOUD"),
}


def _run(command: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("WEBAPP_", "CELERY_T"))}
    full.update(env)
    return subprocess.run(
        command, cwd=REPO, env=full, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_bad_setting_stops_the_process_at_start_naming_the_variable(name):
    variable, value = BAD[name]
    done = _run(COMMANDS[name], **{variable: value})
    assert done.returncode != 0, done.stdout + done.stderr
    assert f"{variable}={value!r}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize(
    "module",
    ["bridge.__main__", "relay.__main__", "taskctl.__main__", "webapp.app", "webapp.serve"],
)
def test_entry_modules_other_than_the_workers_do_not_load_handler_bodies(module):
    code = f"import {module}, sys; print('celery_tasks.handlers' in sys.modules)"
    done = _run([sys.executable, "-c", code])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_the_worker_entry_module_loads_every_handler_body():
    code = "import celery_tasks.app as a, sys; print(a.registry.missing())"
    done = _run([sys.executable, "-c", code])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
