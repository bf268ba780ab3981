"""What the API answers, as frozen dataclasses parsed from its JSON, and what a caller submits.

Each dataclass field is a member of the API's JSON under the same name, unless its metadata
says `LOCAL`; `tests/client/test_openapi.py` checks those names against the live OpenAPI
document. Required members (the document's `required`) are read strictly; optional ones default,
so a server that adds members or omits optional ones does not break an older client.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from taskservice_client.parsing import (
    LOCAL,
    as_object,
    boolean,
    integer,
    opt_integer,
    opt_object,
    opt_string,
    opt_time,
    rfc3339,
    string,
)


class TaskStatus(StrEnum):
    """A task's place in its lifecycle."""

    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    RETRYING = "RETRYING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


TERMINAL_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})


@dataclass(frozen=True)
class TaskSpec:
    """One task to submit, alone (`Client.submit`) or in a batch (`Client.submit_batch`)."""

    type: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    priority: int | None = None
    max_attempts: int | None = None
    run_at: datetime | None = None
    # Where the service POSTs the outcome, signed (the tenant's secret, `GET /api/webhooks`).
    callback_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The TaskSubmission body; unset options are left to the server's defaults."""
        body: dict[str, Any] = {"type": self.type, "payload": dict(self.payload)}
        if self.priority is not None:
            body["priority"] = self.priority
        if self.max_attempts is not None:
            body["max_attempts"] = self.max_attempts
        if self.run_at is not None:
            body["run_at"] = rfc3339(self.run_at)
        if self.callback_url is not None:
            body["callback_url"] = self.callback_url
        return body


@dataclass(frozen=True)
class SubmittedTask:
    """The API's answer to a submission: the new task's id and first status."""

    id: str
    status: TaskStatus
    type: str
    created_at: datetime
    correlation_id: str | None = None
    priority: int | None = None
    run_at: datetime | None = None
    # True when the Idempotency-Key had already created this task (the API answered 200).
    replayed: bool = field(default=False, metadata=LOCAL)

    @classmethod
    def from_json(cls, value: Any, *, replayed: bool = False) -> "SubmittedTask":
        """Parse a SubmittedTask body."""
        data = as_object(value, "task")
        created_at = opt_time(data, "created_at")
        if created_at is None:
            raise TypeError("created_at is required")
        return cls(
            id=string(data, "id"),
            status=TaskStatus(string(data, "status")),
            type=string(data, "type"),
            created_at=created_at,
            correlation_id=opt_string(data, "correlation_id"),
            priority=opt_integer(data, "priority"),
            run_at=opt_time(data, "run_at"),
            replayed=replayed,
        )


@dataclass(frozen=True)
class TaskRef:
    """One task of a batch answer, in submission order."""

    id: str
    # None only when an idempotent replay names a task that retention has since dropped.
    status: TaskStatus | None

    @classmethod
    def from_json(cls, value: Any) -> "TaskRef":
        """Parse one item of a BatchResult's `tasks`."""
        data = as_object(value, "task")
        status = opt_string(data, "status")
        return cls(id=string(data, "id"), status=None if status is None else TaskStatus(status))


@dataclass(frozen=True)
class Task:
    """A task as `GET /api/tasks/{id}`, search and cancel show it."""

    id: str
    type: str
    status: TaskStatus
    attempts: int
    max_attempts: int
    payload: Mapping[str, Any] = field(default_factory=dict)
    result: Mapping[str, Any] | None = None
    priority: int | None = None
    last_error: str | None = None
    error_type: str | None = None
    correlation_id: str | None = None
    tenant: str | None = None
    cancel_requested: bool = False
    redrive_count: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    run_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    next_attempt_at: datetime | None = None
    callback_url: str | None = None

    @property
    def done(self) -> bool:
        """True once the task is COMPLETED, FAILED or CANCELLED."""
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_json(cls, value: Any) -> "Task":
        """Parse a Task body."""
        data = as_object(value, "task")
        return cls(
            id=string(data, "id"),
            type=string(data, "type"),
            status=TaskStatus(string(data, "status")),
            attempts=integer(data, "attempts"),
            max_attempts=integer(data, "max_attempts"),
            payload=opt_object(data, "payload") or {},
            result=opt_object(data, "result"),
            priority=opt_integer(data, "priority"),
            last_error=opt_string(data, "last_error"),
            error_type=opt_string(data, "error_type"),
            correlation_id=opt_string(data, "correlation_id"),
            tenant=opt_string(data, "tenant"),
            cancel_requested=boolean(data, "cancel_requested"),
            redrive_count=opt_integer(data, "redrive_count") or 0,
            created_at=opt_time(data, "created_at"),
            updated_at=opt_time(data, "updated_at"),
            run_at=opt_time(data, "run_at"),
            started_at=opt_time(data, "started_at"),
            finished_at=opt_time(data, "finished_at"),
            next_attempt_at=opt_time(data, "next_attempt_at"),
            callback_url=opt_string(data, "callback_url"),
        )


@dataclass(frozen=True)
class TaskPage:
    """One page of a search; `next_cursor` is None on the last."""

    items: tuple[Task, ...]
    limit: int
    next_cursor: str | None

    @classmethod
    def from_json(cls, value: Any) -> "TaskPage":
        """Parse a TaskPage body."""
        data = as_object(value, "page")
        items = data["items"]
        if not isinstance(items, list):
            raise TypeError("items must be a list")
        return cls(
            items=tuple(Task.from_json(item) for item in items),
            limit=integer(data, "limit"),
            next_cursor=opt_string(data, "next_cursor"),
        )
