"""Pure logic of the client: parsing answers, building requests, mapping errors. No services."""

from datetime import UTC, datetime

import httpx
import pytest

from taskservice_client import (
    ApiError,
    Attempt,
    Redrive,
    RedriveState,
    Task,
    TaskSpec,
    TaskStatus,
    UnexpectedResponse,
    ValidationFailed,
    calls,
    protocol,
)

TASK = {
    "id": "01a22f5b-6b1b-7217-9703-ea706d06925b",
    "type": "process_data",
    "status": "COMPLETED",
    "payload": {"action": "process_data"},
    "result": {"digest": "9eb1"},
    "priority": 0,
    "attempts": 1,
    "max_attempts": 4,
    "last_error": None,
    "error_type": None,
    "correlation_id": "test-123",
    "created_at": "2026-12-01T02:07:30.075000+00:00",
    "updated_at": "2026-12-01T02:07:30.475000+00:00",
    "run_at": None,
    "started_at": "2026-12-01T02:07:30.300000+00:00",
    "finished_at": "2026-12-01T02:07:30.475000+00:00",
    "next_attempt_at": None,
    "redrive_count": 0,
    "cancel_requested": False,
    "tenant": "dev",
    "links": {"self": "/api/tasks/01a22f5b-6b1b-7217-9703-ea706d06925b"},
}


def _answer(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, json=body, request=httpx.Request("GET", "http://api.test/x"))


def test_a_task_body_parses_into_typed_fields():
    task = Task.from_json(TASK)
    assert task.status is TaskStatus.COMPLETED
    assert task.done
    assert task.result == {"digest": "9eb1"}
    assert task.created_at == datetime(2026, 12, 1, 2, 7, 30, 75000, tzinfo=UTC)
    assert task.run_at is None


def test_a_body_without_a_required_member_is_an_unexpected_response():
    body = {k: v for k, v in TASK.items() if k != "attempts"}
    with pytest.raises(UnexpectedResponse, match="attempts"):
        protocol.finish(calls.get_task(TASK["id"]), _answer(200, body))
    with pytest.raises(UnexpectedResponse):
        protocol.finish(calls.get_task(TASK["id"]), _answer(200, {**TASK, "status": "LOST"}))


def test_a_problem_body_becomes_the_error_of_its_status_with_every_member():
    problem = {
        "type": "https://taskservice.dev/problems/validation",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": "1 of 2 tasks are invalid; none was stored",
        "instance": "/api/tasks/batch",
        "correlation_id": "c1",
        "errors": [{"index": 1, "detail": "unknown task type 'x'"}],
    }
    with pytest.raises(ValidationFailed) as caught:
        protocol.finish(calls.get_task("x"), _answer(422, problem))
    error = caught.value
    assert (error.status, error.title, error.instance) == (
        422,
        problem["title"],
        problem["instance"],
    )
    assert error.correlation_id == "c1"
    assert error.errors == problem["errors"]
    assert error.extra == {"errors": problem["errors"]}


def test_an_answer_that_is_no_problem_still_maps_to_an_api_error():
    page = httpx.Response(502, text="<html>bad gateway</html>", headers={"X-Correlation-Id": "c2"})
    error = protocol.error_from(page)
    assert type(error) is ApiError
    assert error.title == "Bad Gateway"
    assert error.detail == "<html>bad gateway</html>"
    assert error.correlation_id == "c2"


def test_naive_datetimes_are_refused_before_anything_is_sent():
    with pytest.raises(ValueError, match="timezone-aware"):
        TaskSpec("echo", run_at=datetime(2026, 12, 1, 12)).to_json()
    with pytest.raises(ValueError, match="timezone-aware"):
        calls.search_query(created_after=datetime(2026, 12, 1))


def test_search_parameters_repeat_status_and_encode_the_payload_as_json():
    query = calls.search_query(status=["PENDING", "FAILED"], payload={"a": 1}, page_size=5)
    assert query == (
        ("status", "PENDING"),
        ("status", "FAILED"),
        ("payload", '{"a":1}'),
        ("limit", "5"),
    )
    assert calls.search_query(status="COMPLETED") == (("status", "COMPLETED"),)
    with pytest.raises(ValueError):
        calls.search_query(status="DONE")


def test_an_id_stays_one_path_segment():
    assert calls.GET_TASK.url("../../healthz") == "/api/tasks/..%2F..%2Fhealthz"


def test_a_redrive_filter_refuses_a_lone_string_for_a_list():
    with pytest.raises(TypeError, match="types"):
        calls.redrive_filter(types="fail")


def test_a_redrive_request_sends_only_the_given_criteria():
    since = datetime(2026, 12, 1, tzinfo=UTC)
    where = calls.redrive_filter(types=["fail"], failed_since=since, payload={"batch": "b"})
    call = calls.create_redrive(where, rate=2.5, limit=None, dry_run=True)
    assert call.body == {
        "filter": {
            "types": ["fail"],
            "failed_since": "2026-12-01T00:00:00+00:00",
            "payload": {"batch": "b"},
        },
        "dry_run": True,
        "rate": 2.5,
    }
    assert not call.replay_safe


def test_the_contracts_redrive_and_attempt_bodies_parse():
    redrive = Redrive.from_json(
        {
            "id": "r1",
            "state": "COMPLETED",
            "dry_run": False,
            "matched": 3,
            "redriven": 2,
            "skipped": 1,
            "failed": 0,
            "filter": {
                "types": ["fail"],
                "task_ids": ["t1"],
                "failed_until": "2026-12-01T00:00:00Z",
            },
            "rate": 5,
            "limit": None,
            "created_at": "2026-12-01T00:00:00+00:00",
            "updated_at": "2026-12-01T00:00:01+00:00",
            "finished_at": "2026-12-01T00:00:01+00:00",
            "links": {"self": "/api/redrives/r1"},
        }
    )
    assert redrive.state is RedriveState.COMPLETED
    assert redrive.done
    assert redrive.rate == 5.0
    assert redrive.filter.types == ("fail",)
    assert redrive.filter.failed_until == datetime(2026, 12, 1, tzinfo=UTC)
    attempt = Attempt.from_json(
        {
            "attempt": 1,
            "worker": "w@h",
            "outcome": "FAILED",
            "error_type": "RetryableError",
            "duration_s": 0.01,
        }
    )
    assert attempt.duration_s == 0.01
    assert attempt.started_at is None
