"""Fixtures of the client's tests: a `Client` on the running stack's API (`ops/stack.sh up`).

The key and base URL are the end-to-end tests' (TASKS_API_KEY, else the stack's development
key; API_URL, else the local stack).
"""

import uuid
from collections.abc import Iterator

import httpx
import pytest

from taskservice_client import Client
from tests.e2e.conftest import API, api_key

# The stack's workers are shared by every test and every engineer's run; a task may queue
# behind thousands of others, so waits are long while each poll stays short.
WAIT_S = 120.0


@pytest.fixture(scope="session")
def api_url() -> str:
    """Base URL of the running API; fails (never skips) when it is not ready."""
    response = httpx.get(f"{API}/readyz", timeout=10)
    assert response.status_code == 200, f"stack not ready: {response.text}"
    return API


@pytest.fixture
def client(api_url: str) -> Iterator[Client]:
    with Client(api_url, api_key()) as c:
        yield c


@pytest.fixture
def marker() -> str:
    """A value no other test's payload holds, so a search sees only this test's tasks."""
    return uuid.uuid4().hex
