"""The client's task operations checked against the live `/api/openapi.json`: every method and
path it calls is documented, and so is every member its dataclasses read, every body member and
query parameter it sends, and every status it knows. (Why live, not a kept copy: see
tests/client/openapi_check.py.)"""

import dataclasses
from datetime import UTC, datetime

import pytest

from taskservice_client import calls, protocol
from taskservice_client.models import (
    SubmittedTask,
    Task,
    TaskPage,
    TaskRef,
    TaskSpec,
    TaskStatus,
)
from tests.client import openapi_check as oc

TASK_ENDPOINTS = [e for e in calls.ENDPOINTS if e not in oc.OPERATOR_ENDPOINTS]
# (operation, status, where in its answer, the dataclass read there)
TASK_READS = [
    (calls.SUBMIT, "202", (), SubmittedTask),
    (calls.SUBMIT, "200", (), SubmittedTask),
    (calls.SUBMIT_BATCH, "202", ("tasks", "[]"), TaskRef),
    (calls.SUBMIT_BATCH, "200", ("tasks", "[]"), TaskRef),
    (calls.SEARCH, "200", (), TaskPage),
    (calls.SEARCH, "200", ("items", "[]"), Task),
    (calls.GET_TASK, "200", (), Task),
    (calls.CANCEL_TASK, "200", (), Task),
    (calls.CANCEL_TASK, "202", (), Task),
]


@pytest.fixture(scope="module")
def doc(api_url):
    return oc.fetch(api_url)


def test_every_operation_the_client_calls_is_documented_or_awaited():
    assert set(TASK_ENDPOINTS) | oc.OPERATOR_ENDPOINTS == set(calls.ENDPOINTS)
    assert {e for e, *_ in TASK_READS} == set(TASK_ENDPOINTS)


@pytest.mark.parametrize("endpoint", TASK_ENDPOINTS, ids=lambda e: f"{e.method} {e.path}")
def test_the_operation_exists_with_the_clients_method_and_path(doc, endpoint):
    assert oc.operation(doc, endpoint)["responses"]


@pytest.mark.parametrize(
    ("endpoint", "status", "steps", "model"),
    TASK_READS,
    ids=lambda v: getattr(v, "__name__", None) or str(v),
)
def test_every_member_a_dataclass_reads_is_in_the_response_schema(
    doc, endpoint, status, steps, model
):
    schema = oc.member(doc, oc.response_schema(doc, endpoint, status), *steps)
    assert oc.missing_members(doc, schema, model) == []


def test_the_problem_members_errors_read_are_documented(doc):
    problem = oc.response_schema(doc, calls.GET_TASK, "404")
    assert set(problem["properties"]) >= protocol.PROBLEM_MEMBERS


def test_the_statuses_the_client_knows_are_the_apis(doc):
    task = oc.response_schema(doc, calls.GET_TASK, "200")
    assert oc.enum_of(doc, task, "status") == {s.value for s in TaskStatus}


def test_the_submission_members_the_client_sends_are_accepted(doc):
    every_option = TaskSpec(
        "echo", {"a": 1}, 1, 1, datetime.now(UTC), "https://hooks.example.com/done"
    ).to_json()
    assert set(every_option) == {f.name for f in dataclasses.fields(TaskSpec)}
    single = oc.request_schema(doc, calls.SUBMIT)
    assert set(every_option) <= set(single["properties"])
    batch = oc.member(doc, oc.request_schema(doc, calls.SUBMIT_BATCH), "tasks", "[]")
    assert set(every_option) <= set(batch["properties"])


def test_the_headers_of_submissions_are_documented(doc):
    for endpoint in (calls.SUBMIT, calls.SUBMIT_BATCH):
        headers = oc.parameter_names(doc, endpoint, "header")
        assert {protocol.IDEMPOTENCY_HEADER, protocol.CORRELATION_HEADER} <= headers


def test_the_search_parameters_the_client_sends_are_documented(doc):
    now = datetime.now(UTC)
    query = calls.search_query(
        status=["PENDING", "FAILED"],
        type="echo",
        created_after=now,
        created_before=now,
        payload={"a": 1},
        page_size=10,
    )
    sent = {name for name, _ in calls.search_page(query, "cursor").params}
    assert sent == {"status", "type", "created_after", "created_before", "payload", "limit"} | {
        "cursor"
    }
    assert sent <= oc.parameter_names(doc, calls.SEARCH, "query")
