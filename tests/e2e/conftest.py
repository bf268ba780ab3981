"""End-to-end fixtures: the whole running stack (`ops/stack.sh up`), driven over HTTP."""

import functools
import os
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import requests
from redis import Redis

API = os.environ.get("API_URL", "http://127.0.0.1:8080")
REPO = Path(__file__).resolve().parents[2]
STACK_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/1")
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}
# Authentication is on by default; `ops/stack.sh up` keeps a development key here.
DEV_KEY_FILE = REPO / ".stack" / "dev-api-key"


@functools.cache
def api_key() -> str:
    """The key e2e tests use: TASKS_API_KEY, else the stack's development key."""
    key = os.environ.get("TASKS_API_KEY") or DEV_KEY_FILE.read_text().strip()
    assert key, f"no API key: set TASKS_API_KEY or run ops/stack.sh up ({DEV_KEY_FILE})"
    return key


def auth_headers() -> dict[str, str]:
    """The Authorization header of every e2e request."""
    return {"Authorization": f"Bearer {api_key()}"}


def api_session() -> requests.Session:
    """A requests session that authenticates every request with the e2e key."""
    session = requests.Session()
    session.headers.update(auth_headers())
    return session


def stack(*args: str) -> None:
    """Run `ops/stack.sh ARGS` (fault injection: stop and start a component)."""
    subprocess.run([str(REPO / "ops" / "stack.sh"), *args], check=True, timeout=180)


@pytest.fixture(scope="session")
def api() -> str:
    """Base URL of the running API; fails (never skips) when the stack is not up."""
    response = requests.get(f"{API}/readyz", timeout=10)
    assert response.status_code == 200, f"stack not ready: {response.text}"
    return API


@pytest.fixture
def stack_broker() -> Iterable[Redis]:
    """A plain Redis client on the running stack's Celery broker (closed after the test)."""
    with Redis.from_url(STACK_BROKER_URL) as broker:
        yield broker


@pytest.fixture
def http() -> Iterable[requests.Session]:
    with api_session() as session:
        yield session


def submit(session: requests.Session, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = session.post(
        f"{API}/api/tasks", json=body, headers={**auth_headers(), **headers}, timeout=30
    )
    assert response.status_code == 202, response.text
    return response.json()


def get(session: requests.Session, task_id: str) -> dict[str, Any]:
    response = session.get(f"{API}/api/tasks/{task_id}", headers=auth_headers(), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(
    session: requests.Session,
    task_ids: list[str],
    done: Callable[[dict[str, Any]], bool] = lambda t: t["status"] in TERMINAL,
    timeout_s: float = 60.0,
) -> dict[str, dict[str, Any]]:
    """Poll until every task satisfies `done`; returns the last view of each."""
    deadline = time.monotonic() + timeout_s
    views: dict[str, dict[str, Any]] = {}
    waiting = list(task_ids)
    while waiting and time.monotonic() < deadline:
        still = []
        for task_id in waiting:
            view = get(session, task_id)
            views[task_id] = view
            if not done(view):
                still.append(task_id)
        waiting = still
        if waiting:
            time.sleep(0.25)
    assert not waiting, f"{len(waiting)} tasks not done, e.g. {views[waiting[0]]}"
    return views


TASKCTL = str(REPO / ".venv" / "bin" / "taskctl")


def taskctl_env() -> dict[str, str]:
    """The environment of a `taskctl` that talks to the stack's API with the e2e key."""
    return {**os.environ, "TASKCTL_API_URL": API, "TASKCTL_API_KEY": api_key()}


def taskctl(*args: str) -> str:
    """`taskctl dlt ARGS` against the stack; its standard output."""
    out = subprocess.run(
        [TASKCTL, "dlt", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=taskctl_env(),
    )
    return out.stdout
