"""The API's operations as data: which request each method sends and how its answer is read.

Both clients build their requests and read their answers here, so the sync and async methods
differ only in how they send and wait.
"""

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypedDict

import httpx

from taskservice_client.models import (
    SubmittedTask,
    Task,
    TaskPage,
    TaskRef,
    TaskSpec,
    TaskStatus,
)
from taskservice_client.operator_models import (
    Attempt,
    Redrive,
    RedriveFilter,
)
from taskservice_client.parsing import (
    rfc3339,
)
from taskservice_client.protocol import (
    CORRELATION_HEADER,
    IDEMPOTENCY_HEADER,
    Call,
    Endpoint,
)

SUBMIT = Endpoint("POST", "/api/tasks")
SEARCH = Endpoint("GET", "/api/tasks")
SUBMIT_BATCH = Endpoint("POST", "/api/tasks/batch")
GET_TASK = Endpoint("GET", "/api/tasks/{}")
CANCEL_TASK = Endpoint("POST", "/api/tasks/{}/cancel")
ATTEMPTS = Endpoint("GET", "/api/tasks/{}/attempts")
CREATE_REDRIVE = Endpoint("POST", "/api/redrives")
GET_REDRIVE = Endpoint("GET", "/api/redrives/{}")
CANCEL_REDRIVE = Endpoint("POST", "/api/redrives/{}/cancel")
ENDPOINTS = (
    SUBMIT,
    SEARCH,
    SUBMIT_BATCH,
    GET_TASK,
    CANCEL_TASK,
    ATTEMPTS,
    CREATE_REDRIVE,
    GET_REDRIVE,
    CANCEL_REDRIVE,
)


class SearchFilters(TypedDict, total=False):
    """What `Client.search` matches; every given filter must hold."""

    status: str | Iterable[str]
    type: str
    created_after: datetime
    created_before: datetime
    payload: Mapping[str, Any]
    page_size: int


class RedriveCriteria(TypedDict, total=False):
    """Which FAILED tasks `Client.redrive` takes; every given criterion must hold."""

    types: Iterable[str]
    error_types: Iterable[str]
    failed_since: datetime
    failed_until: datetime
    task_ids: Iterable[str]
    payload: Mapping[str, Any]


def _submission_headers(idempotency_key: str | None, correlation_id: str | None) -> dict[str, str]:
    # One key per call, made before the first try, so every retry of it names the same
    # submission and the API answers a replay with the original task instead of a new one.
    headers = {IDEMPOTENCY_HEADER: idempotency_key or uuid.uuid4().hex}
    if correlation_id is not None:
        headers[CORRELATION_HEADER] = correlation_id
    return headers


def submit(
    spec: TaskSpec, *, idempotency_key: str | None = None, correlation_id: str | None = None
) -> Call[SubmittedTask]:
    """`POST /api/tasks`."""
    return Call(
        SUBMIT.method,
        SUBMIT.url(),
        lambda r: SubmittedTask.from_json(r.json(), replayed=r.status_code == 200),
        body=spec.to_json(),
        headers=_submission_headers(idempotency_key, correlation_id),
    )


def _batch_refs(response: httpx.Response) -> list[TaskRef]:
    items = response.json()["tasks"]
    if not isinstance(items, list):
        raise TypeError("tasks must be a list")
    return [TaskRef.from_json(item) for item in items]


def submit_batch(
    specs: Sequence[TaskSpec],
    *,
    idempotency_key: str | None = None,
    correlation_id: str | None = None,
) -> Call[list[TaskRef]]:
    """`POST /api/tasks/batch`."""
    return Call(
        SUBMIT_BATCH.method,
        SUBMIT_BATCH.url(),
        _batch_refs,
        body={"tasks": [spec.to_json() for spec in specs]},
        headers=_submission_headers(idempotency_key, correlation_id),
    )


def get_task(task_id: str) -> Call[Task]:
    """`GET /api/tasks/{id}`."""
    return Call(GET_TASK.method, GET_TASK.url(task_id), lambda r: Task.from_json(r.json()))


def cancel_task(task_id: str) -> Call[Task]:
    """`POST /api/tasks/{id}/cancel`.

    Resending is harmless, since a second cancel changes nothing; but when the first answer was
    lost, the resent one is a 409 Conflict whose `extra["task_status"]` is CANCELLED.
    """
    return Call(CANCEL_TASK.method, CANCEL_TASK.url(task_id), lambda r: Task.from_json(r.json()))


def search_query(
    *,
    status: str | Iterable[str] | None = None,
    type: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    payload: Mapping[str, Any] | None = None,
    page_size: int | None = None,
) -> tuple[tuple[str, str], ...]:
    """The query parameters of a search, before its cursor."""
    statuses = [status] if isinstance(status, str) else list(status or ())
    params = [("status", TaskStatus(s).value) for s in statuses]
    if type is not None:
        params.append(("type", type))
    if created_after is not None:
        params.append(("created_after", rfc3339(created_after)))
    if created_before is not None:
        params.append(("created_before", rfc3339(created_before)))
    if payload is not None:
        params.append(("payload", json.dumps(dict(payload), separators=(",", ":"))))
    if page_size is not None:
        params.append(("limit", str(page_size)))
    return tuple(params)


def search_page(query: tuple[tuple[str, str], ...], cursor: str | None) -> Call[TaskPage]:
    """`GET /api/tasks`: one page, the first when `cursor` is None."""
    params = query if cursor is None else (*query, ("cursor", cursor))
    return Call(SEARCH.method, SEARCH.url(), lambda r: TaskPage.from_json(r.json()), params=params)


def _attempts(response: httpx.Response) -> list[Attempt]:
    items = response.json()["items"]
    if not isinstance(items, list):
        raise TypeError("items must be a list")
    return [Attempt.from_json(item) for item in items]


def attempts(task_id: str) -> Call[list[Attempt]]:
    """`GET /api/tasks/{id}/attempts`."""
    return Call(ATTEMPTS.method, ATTEMPTS.url(task_id), _attempts)


def redrive_filter(
    *,
    types: Iterable[str] = (),
    error_types: Iterable[str] = (),
    failed_since: datetime | None = None,
    failed_until: datetime | None = None,
    task_ids: Iterable[str] = (),
    payload: Mapping[str, Any] | None = None,
) -> RedriveFilter:
    """The filter of a re-drive from its criteria."""
    # A lone string is iterable too; taken as a list of characters it would match nothing.
    for name, value in (("types", types), ("error_types", error_types), ("task_ids", task_ids)):
        if isinstance(value, str):
            raise TypeError(f"{name} takes a list of strings, not one string")
    return RedriveFilter(
        types=tuple(types),
        error_types=tuple(error_types),
        failed_since=failed_since,
        failed_until=failed_until,
        task_ids=tuple(task_ids),
        payload=payload,
    )


def create_redrive(
    where: RedriveFilter, *, rate: float | None, limit: int | None, dry_run: bool
) -> Call[Redrive]:
    """`POST /api/redrives`."""
    body: dict[str, Any] = {"filter": where.to_json(), "dry_run": dry_run}
    if rate is not None:
        body["rate"] = rate
    if limit is not None:
        body["limit"] = limit
    return Call(
        CREATE_REDRIVE.method,
        CREATE_REDRIVE.url(),
        lambda r: Redrive.from_json(r.json()),
        body=body,
        # The endpoint takes no Idempotency-Key: a second POST would start a second job.
        replay_safe=False,
    )


def get_redrive(redrive_id: str) -> Call[Redrive]:
    """`GET /api/redrives/{id}`."""
    return Call(
        GET_REDRIVE.method, GET_REDRIVE.url(redrive_id), lambda r: Redrive.from_json(r.json())
    )


def cancel_redrive(redrive_id: str) -> Call[Redrive]:
    """`POST /api/redrives/{id}/cancel`."""
    return Call(
        CANCEL_REDRIVE.method,
        CANCEL_REDRIVE.url(redrive_id),
        lambda r: Redrive.from_json(r.json()),
    )
