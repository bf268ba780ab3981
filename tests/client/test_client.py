"""The client against the running stack's API: submit, wait, batch, search, cancel, errors,
and the asyncio client."""

import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from taskservice_client import (
    AsyncClient,
    Client,
    Conflict,
    NotFound,
    TaskSpec,
    TaskStatus,
    Unauthorized,
    ValidationFailed,
    WaitTimeout,
)
from tests.client.conftest import WAIT_S
from tests.e2e.conftest import REPO, api_key
from tests.webhook_receiver import Receiver

EXAMPLE_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
LOCAL_API = "http://127.0.0.1:8080"


def _example(readme: str) -> str:
    blocks = [b for b in EXAMPLE_BLOCK.findall(readme) if "taskservice_client" in b]
    assert blocks, "no client example in the README"
    return blocks[0]


def test_the_readme_example_runs_after_pip_install_in_a_fresh_virtualenv(api_url, tmp_path):
    example = _example((REPO / "client" / "README.md").read_text())
    assert len([line for line in example.splitlines() if line.strip()]) == 5
    assert example == _example((REPO / "README.md").read_text())
    # A virtualenv of its own, as a client team has: the client and its dependencies only, no
    # package of the service (the venv does not see this repository's folders either).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    subprocess.run(
        [python, "-m", "pip", "install", "-q", str(REPO / "client")],
        check=True,
        timeout=600,
    )
    service = subprocess.run(
        [python, "-c", "import importlib.util as u; print(u.find_spec('webapp'))"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert service.stdout.strip() == "None"
    out = subprocess.run(
        [python, "-c", example.replace(LOCAL_API, api_url)],
        cwd=tmp_path,
        env={**os.environ, "TASKS_API_KEY": api_key()},
        capture_output=True,
        text=True,
        timeout=WAIT_S + 30,
        check=True,
    )
    # The result of process_data names the payload's fields and a digest of it.
    assert "'digest':" in out.stdout
    assert "'fields': ['action']" in out.stdout


def test_submit_answers_the_new_task_and_wait_returns_it_completed(client):
    correlation_id = f"client-{uuid.uuid4().hex[:12]}"
    submitted = client.submit(
        "echo", {"say": "hi"}, priority=7, max_attempts=2, correlation_id=correlation_id
    )
    assert submitted.status is TaskStatus.PENDING
    assert submitted.type == "echo"
    assert submitted.priority == 7
    assert submitted.correlation_id == correlation_id
    assert not submitted.replayed
    task = client.wait(submitted.id, timeout_s=WAIT_S, poll_interval_s=0.2)
    assert task.status is TaskStatus.COMPLETED
    assert task.done
    assert task.payload == {"say": "hi"}
    assert task.max_attempts == 2
    assert task.attempts == 1
    assert task.tenant == "dev"
    assert task.created_at is not None
    assert task.finished_at is not None
    assert task.finished_at >= task.created_at


def test_the_same_idempotency_key_returns_the_first_task_and_another_body_conflicts(client):
    key = uuid.uuid4().hex
    first = client.submit("echo", {"n": 1}, idempotency_key=key)
    again = client.submit("echo", {"n": 1}, idempotency_key=key)
    assert again.id == first.id
    assert again.replayed
    with pytest.raises(Conflict) as caught:
        client.submit("echo", {"n": 2}, idempotency_key=key)
    assert caught.value.status == 409
    assert caught.value.extra["header"] == "Idempotency-Key"


def test_batch_answers_ids_in_order_and_every_task_completes(client, marker):
    specs = [TaskSpec("echo", {"marker": marker, "n": n}) for n in range(4)]
    refs = client.submit_batch(specs)
    assert len(refs) == 4
    assert len({r.id for r in refs}) == 4
    assert {r.status for r in refs} == {TaskStatus.PENDING}
    tasks = [client.wait(r.id, timeout_s=WAIT_S) for r in refs]
    assert [t.payload["n"] for t in tasks] == [0, 1, 2, 3]
    assert {t.status for t in tasks} == {TaskStatus.COMPLETED}


def test_a_batch_with_an_invalid_item_stores_nothing_and_names_its_index(client, marker):
    specs = [TaskSpec("echo", {"marker": marker}), TaskSpec("no_such_type")]
    with pytest.raises(ValidationFailed) as caught:
        client.submit_batch(specs)
    assert caught.value.status == 422
    assert [e["index"] for e in caught.value.errors] == [1]
    assert caught.value.type.endswith("/validation")


def test_search_follows_the_cursor_across_pages(client, marker):
    started = datetime.now(UTC) - timedelta(seconds=5)
    refs = client.submit_batch([TaskSpec("echo", {"marker": marker, "n": n}) for n in range(7)])
    ids = {r.id for r in refs}
    filters = {"payload": {"marker": marker}, "type": "echo", "created_after": started}
    # Searches read the replica, which may lag the 202 by its replay delay.
    found: list[str] = []
    for _ in range(100):
        found = [t.id for t in client.search(**filters, page_size=3)]
        if len(found) == 7:
            break
        time.sleep(0.1)
    assert set(found) == ids
    pages = list(client.search_pages(**filters, page_size=3))
    assert [len(p.items) for p in pages] == [3, 3, 1]
    assert [p.next_cursor is None for p in pages] == [False, False, True]
    created = [t.created_at for p in pages for t in p.items]
    assert created == sorted(created, reverse=True)
    assert {t.id for t in client.search(**filters, status=["CANCELLED"])} == set()
    everything = {s.value for s in TaskStatus}
    assert {t.id for t in client.search(**filters, status=everything, page_size=500)} == ids


def test_cancel_stops_a_scheduled_task_and_a_second_cancel_conflicts(client, marker):
    later = datetime.now(UTC) + timedelta(hours=1)
    submitted = client.submit("echo", {"marker": marker}, run_at=later)
    assert submitted.status is TaskStatus.SCHEDULED
    assert submitted.run_at is not None
    assert abs(submitted.run_at - later) < timedelta(milliseconds=1)
    cancelled = client.cancel(submitted.id)
    assert cancelled.status is TaskStatus.CANCELLED
    assert client.wait(submitted.id, timeout_s=5).status is TaskStatus.CANCELLED
    with pytest.raises(Conflict) as caught:
        client.cancel(submitted.id)
    assert caught.value.extra["task_status"] == "CANCELLED"


def test_wait_raises_wait_timeout_with_the_last_state(client, marker):
    submitted = client.submit(
        "echo", {"marker": marker}, run_at=datetime.now(UTC) + timedelta(hours=1)
    )
    try:
        with pytest.raises(WaitTimeout) as caught:
            client.wait(submitted.id, timeout_s=0.5, poll_interval_s=0.1)
        assert caught.value.last.id == submitted.id
        assert not caught.value.last.done
        assert "SCHEDULED" in str(caught.value)
    finally:
        client.cancel(submitted.id)


def test_an_unknown_task_is_not_found(client):
    # A well-formed UUIDv7 that no task has: all zeros but for the version and variant bits.
    missing = "00000000-0000-7000-8000-000000000000"
    with pytest.raises(NotFound) as caught:
        client.get(missing)
    error = caught.value
    assert error.status == 404
    assert error.title == "Not Found"
    assert missing in error.detail
    assert error.type.endswith("/not-found")
    assert error.instance == f"/api/tasks/{missing}"
    assert error.correlation_id
    with pytest.raises(NotFound):
        client.cancel(missing)
    # An id with a slash stays one path segment, so it cannot reach another route.
    with pytest.raises(NotFound):
        client.get("../../healthz")


def test_a_wrong_api_key_is_unauthorized(api_url):
    with Client(api_url, "not-a-key") as anonymous, pytest.raises(Unauthorized) as caught:
        anonymous.get("00000000-0000-7000-8000-000000000000")
    assert caught.value.status == 401


def test_async_client_submits_waits_searches_and_maps_errors(api_url, marker):
    async def scenario() -> None:
        async with AsyncClient(api_url, api_key()) as client:
            refs = await client.submit_batch(
                [TaskSpec("echo", {"marker": marker, "n": n}) for n in range(3)]
            )
            single = await client.submit("echo", {"marker": marker, "n": 3})
            ids = [r.id for r in refs] + [single.id]
            done = await asyncio.gather(*(client.wait(i, timeout_s=WAIT_S) for i in ids))
            assert {t.status for t in done} == {TaskStatus.COMPLETED}
            found: set[str] = set()
            for _ in range(100):
                found = {t.id async for t in client.search(payload={"marker": marker}, page_size=2)}
                if len(found) == 4:
                    break
                await asyncio.sleep(0.1)
            assert found == set(ids)
            with pytest.raises(NotFound):
                await client.get("00000000-0000-7000-8000-000000000000")

    asyncio.run(scenario())


def test_a_task_submitted_with_a_callback_url_is_posted_to_it(client):
    receiver = Receiver([])
    try:
        task = client.submit("echo", {"hook": True}, callback_url=receiver.url)
        done = client.wait(task.id, timeout_s=WAIT_S)
        assert (done.status, done.callback_url) == (TaskStatus.COMPLETED, receiver.url)
        deadline = time.monotonic() + 30
        while not receiver.accepted():
            assert time.monotonic() < deadline, receiver.requests
            time.sleep(0.1)
    finally:
        receiver.close()
    assert receiver.accepted()[0][1].count(task.id.encode()) == 1
