"""The client's operator calls against the running stack: a task's attempts and re-drive jobs
(`GET /api/tasks/{id}/attempts`, `POST /api/redrives`, `GET /api/redrives/{id}`,
`POST /api/redrives/{id}/cancel`), and their place in the live OpenAPI document.

Every re-drive here names this test's own tasks (by id or by a unique payload member), so it
never touches the FAILED tasks of other tests.
"""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from taskservice_client import (
    AsyncClient,
    NotFound,
    RedriveState,
    TaskStatus,
    calls,
)
from taskservice_client.operator_models import (
    Attempt,
    Redrive,
    RedriveFilter,
)
from tests.client import openapi_check as oc
from tests.client.conftest import WAIT_S
from tests.e2e.conftest import api_key

OPERATOR_READS = [
    (calls.ATTEMPTS, "200", ("items", "[]"), Attempt),
    (calls.CREATE_REDRIVE, "202", (), Redrive),
    (calls.CREATE_REDRIVE, "202", ("filter",), RedriveFilter),
    (calls.GET_REDRIVE, "200", (), Redrive),
    (calls.CANCEL_REDRIVE, "200", (), Redrive),
]


def _failed_tasks(client, marker: str, count: int) -> list[str]:
    """`count` tasks that fail at once and for good, until they are re-driven once."""
    payload = {"permanent": True, "healed_after_redrives": 1, "marker": marker}
    ids = [client.submit("fail", {**payload, "n": n}, max_attempts=1).id for n in range(count)]
    for task_id in ids:
        assert client.wait(task_id, timeout_s=WAIT_S).status is TaskStatus.FAILED
    return ids


def test_the_operator_operations_and_their_members_are_documented(api_url):
    doc = oc.fetch(api_url)
    assert {e for e, *_ in OPERATOR_READS} == oc.OPERATOR_ENDPOINTS
    for endpoint, status, steps, model in OPERATOR_READS:
        schema = oc.member(doc, oc.response_schema(doc, endpoint, status), *steps)
        assert oc.missing_members(doc, schema, model) == [], (endpoint, status, model)
    redrive = oc.response_schema(doc, calls.GET_REDRIVE, "200")
    assert oc.enum_of(doc, redrive, "state") == {s.value for s in RedriveState}
    request = oc.request_schema(doc, calls.CREATE_REDRIVE)
    assert {"filter", "rate", "limit", "dry_run"} <= set(request["properties"])
    every_criterion = calls.redrive_filter(
        types=["fail"],
        error_types=["PermanentError"],
        failed_since=datetime.now(UTC),
        failed_until=datetime.now(UTC),
        task_ids=["t"],
        payload={"a": 1},
    ).to_json()
    assert set(every_criterion) <= set(oc.member(doc, request, "filter")["properties"])


def test_attempts_lists_every_attempt_of_a_task_in_order(client, marker):
    submitted = client.submit("fail", {"times": 1, "marker": marker}, max_attempts=3)
    task = client.wait(submitted.id, timeout_s=WAIT_S)
    assert task.status is TaskStatus.COMPLETED
    assert task.attempts == 2
    first, second = client.attempts(submitted.id)
    assert (first.attempt, second.attempt) == (1, 2)
    assert first.error_type == "RetryableError"
    assert first.error
    assert second.error is None
    for attempt in (first, second):
        assert attempt.worker
        assert attempt.outcome
        assert attempt.started_at is not None
        assert attempt.finished_at is not None
        assert attempt.started_at <= attempt.finished_at
        assert attempt.duration_s is not None
        assert attempt.duration_s >= 0
    assert first.finished_at <= second.started_at


def test_a_dry_run_counts_the_matching_tasks_and_redrives_none(client, marker):
    ids = _failed_tasks(client, marker, 2)
    job = client.redrive(task_ids=ids, dry_run=True)
    assert job.dry_run
    assert job.filter.task_ids == tuple(ids)
    done = client.wait_redrive(job.id, timeout_s=WAIT_S)
    assert done.state is RedriveState.COMPLETED
    assert (done.matched, done.redriven) == (2, 0)
    assert done.finished_at is not None
    assert {client.get(i).status for i in ids} == {TaskStatus.FAILED}


def test_a_redrive_resets_the_matching_failed_tasks_and_they_complete(client, marker):
    started = datetime.now(UTC) - timedelta(minutes=1)
    ids = _failed_tasks(client, marker, 2)
    job = client.redrive(
        types=["fail"],
        error_types=["PermanentError"],
        failed_since=started,
        payload={"marker": marker},
        rate=50.0,
        limit=10,
    )
    assert job.state in {RedriveState.PENDING, RedriveState.RUNNING, RedriveState.COMPLETED}
    assert job.filter.types == ("fail",)
    assert job.filter.payload == {"marker": marker}
    assert (job.rate, job.limit, job.dry_run) == (50.0, 10, False)
    done = client.wait_redrive(job.id, timeout_s=WAIT_S)
    assert done.state is RedriveState.COMPLETED
    assert (done.matched, done.redriven, done.failed) == (2, 2, 0)
    assert client.get_redrive(job.id) == done
    for task_id in ids:
        task = client.wait(task_id, timeout_s=WAIT_S)
        assert task.status is TaskStatus.COMPLETED
        assert task.redrive_count == 1


def test_cancelling_a_slow_redrive_stops_it(client, marker):
    ids = _failed_tasks(client, marker, 3)
    # One task every 20 s: the job is still going when the cancel arrives.
    job = client.redrive(task_ids=ids, rate=0.05)
    cancelled = client.cancel_redrive(job.id)
    assert cancelled.id == job.id
    done = client.wait_redrive(job.id, timeout_s=WAIT_S)
    assert done.state is RedriveState.CANCELLED
    assert done.redriven < 3
    assert sum(client.get(i).status is TaskStatus.FAILED for i in ids) == 3 - done.redriven


def test_unknown_redrives_and_tasks_are_not_found(client):
    with pytest.raises(NotFound):
        client.get_redrive(str(uuid.uuid4()))
    with pytest.raises(NotFound):
        client.cancel_redrive(str(uuid.uuid4()))
    with pytest.raises(NotFound):
        client.attempts("00000000-0000-7000-8000-000000000000")


def test_the_async_client_reads_attempts_and_runs_a_redrive(client, api_url, marker):
    ids = _failed_tasks(client, marker, 1)

    async def scenario() -> None:
        async with AsyncClient(api_url, api_key()) as aclient:
            (attempt,) = await aclient.attempts(ids[0])
            assert attempt.error_type == "PermanentError"
            job = await aclient.redrive(task_ids=ids, dry_run=True)
            done = await aclient.wait_redrive(job.id, timeout_s=WAIT_S)
            assert (done.state, done.matched) == (RedriveState.COMPLETED, 1)
            assert (await aclient.get_redrive(job.id)).id == job.id

    asyncio.run(scenario())
