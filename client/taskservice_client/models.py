"""What the API answers, as frozen dataclasses parsed from its JSON, and what a caller submits.

Each dataclass field is a member of the API's JSON under the same name, unless its metadata
says `LOCAL`; `tests/client/test_openapi.py` checks those names against the live OpenAPI
document. Required members (the document's `required`) are read strictly; optional ones default,
so a server that adds members or omits optional ones does not break an older client.
"""

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

# Marks a field the client fills itself rather than reading it from the response body.
LOCAL = {"json": False}


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


class RedriveState(StrEnum):
    """Where a re-drive job is."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"


FINISHED_REDRIVE_STATES = frozenset(
    {RedriveState.COMPLETED, RedriveState.CANCELLED, RedriveState.FAILED}
)


def json_fields(cls: type) -> tuple[str, ...]:
    """The JSON members a response dataclass reads."""
    return tuple(
        f.name for f in dataclasses.fields(cls) if f.metadata.get("json", True) is not False
    )


def rfc3339(value: datetime) -> str:
    """A timezone-aware datetime as the API expects it."""
    # A naive datetime would mean the server's idea of local time, which is UTC there and
    # rarely what the caller's machine meant; refusing it here beats a silent shift.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"give a timezone-aware datetime, not {value!r}")
    return value.isoformat()


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a JSON object, not {type(value).__name__}")
    return value


def _str(data: Mapping[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string")
    return value


def _opt_str(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    return None if value is None else _str(data, name)


def _int(data: Mapping[str, Any], name: str) -> int:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer")
    return value


def _opt_int(data: Mapping[str, Any], name: str) -> int | None:
    return None if data.get(name) is None else _int(data, name)


def _opt_float(data: Mapping[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number")
    return float(value)


def _bool(data: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false")
    return value


def _opt_time(data: Mapping[str, Any], name: str) -> datetime | None:
    value = _opt_str(data, name)
    return None if value is None else datetime.fromisoformat(value)


def _opt_object(data: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    value = data.get(name)
    return None if value is None else _object(value, name)


def _strings(data: Mapping[str, Any], name: str) -> tuple[str, ...]:
    values = data.get(name) or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise TypeError(f"{name} must be a list of strings")
    return tuple(values)


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
        data = _object(value, "task")
        created_at = _opt_time(data, "created_at")
        if created_at is None:
            raise TypeError("created_at is required")
        return cls(
            id=_str(data, "id"),
            status=TaskStatus(_str(data, "status")),
            type=_str(data, "type"),
            created_at=created_at,
            correlation_id=_opt_str(data, "correlation_id"),
            priority=_opt_int(data, "priority"),
            run_at=_opt_time(data, "run_at"),
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
        data = _object(value, "task")
        status = _opt_str(data, "status")
        return cls(id=_str(data, "id"), status=None if status is None else TaskStatus(status))


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
        data = _object(value, "task")
        return cls(
            id=_str(data, "id"),
            type=_str(data, "type"),
            status=TaskStatus(_str(data, "status")),
            attempts=_int(data, "attempts"),
            max_attempts=_int(data, "max_attempts"),
            payload=_opt_object(data, "payload") or {},
            result=_opt_object(data, "result"),
            priority=_opt_int(data, "priority"),
            last_error=_opt_str(data, "last_error"),
            error_type=_opt_str(data, "error_type"),
            correlation_id=_opt_str(data, "correlation_id"),
            tenant=_opt_str(data, "tenant"),
            cancel_requested=_bool(data, "cancel_requested"),
            redrive_count=_opt_int(data, "redrive_count") or 0,
            created_at=_opt_time(data, "created_at"),
            updated_at=_opt_time(data, "updated_at"),
            run_at=_opt_time(data, "run_at"),
            started_at=_opt_time(data, "started_at"),
            finished_at=_opt_time(data, "finished_at"),
            next_attempt_at=_opt_time(data, "next_attempt_at"),
            callback_url=_opt_str(data, "callback_url"),
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
        data = _object(value, "page")
        items = data["items"]
        if not isinstance(items, list):
            raise TypeError("items must be a list")
        return cls(
            items=tuple(Task.from_json(item) for item in items),
            limit=_int(data, "limit"),
            next_cursor=_opt_str(data, "next_cursor"),
        )


@dataclass(frozen=True)
class Attempt:
    """One attempt at running a task, as the worker recorded it. `run` counts the re-drives
    before it (0: the task's first run); a re-drive numbers its attempts from 1 again."""

    attempt: int
    run: int = 0
    worker: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    outcome: str | None = None
    error_type: str | None = None
    error: str | None = None
    duration_s: float | None = None

    @classmethod
    def from_json(cls, value: Any) -> "Attempt":
        """Parse one item of the attempts list."""
        data = _object(value, "attempt")
        return cls(
            attempt=_int(data, "attempt"),
            run=_opt_int(data, "run") or 0,
            worker=_opt_str(data, "worker"),
            started_at=_opt_time(data, "started_at"),
            finished_at=_opt_time(data, "finished_at"),
            outcome=_opt_str(data, "outcome"),
            error_type=_opt_str(data, "error_type"),
            error=_opt_str(data, "error"),
            duration_s=_opt_float(data, "duration_s"),
        )


@dataclass(frozen=True)
class RedriveFilter:
    """Which FAILED tasks a re-drive takes; every given criterion must match."""

    types: tuple[str, ...] = ()
    error_types: tuple[str, ...] = ()
    failed_since: datetime | None = None
    failed_until: datetime | None = None
    task_ids: tuple[str, ...] = ()
    payload: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The `filter` member of a re-drive request; criteria left unset are omitted."""
        body: dict[str, Any] = {}
        for name in ("types", "error_types", "task_ids"):
            values = getattr(self, name)
            if values:
                body[name] = list(values)
        if self.failed_since is not None:
            body["failed_since"] = rfc3339(self.failed_since)
        if self.failed_until is not None:
            body["failed_until"] = rfc3339(self.failed_until)
        if self.payload is not None:
            body["payload"] = dict(self.payload)
        return body

    @classmethod
    def from_json(cls, value: Any) -> "RedriveFilter":
        """Parse the `filter` member of a re-drive."""
        data = _object(value or {}, "filter")
        return cls(
            types=_strings(data, "types"),
            error_types=_strings(data, "error_types"),
            failed_since=_opt_time(data, "failed_since"),
            failed_until=_opt_time(data, "failed_until"),
            task_ids=_strings(data, "task_ids"),
            payload=_opt_object(data, "payload"),
        )


@dataclass(frozen=True)
class Redrive:
    """A re-drive job: FAILED tasks matching its filter are reset to PENDING at its rate."""

    id: str
    state: RedriveState
    dry_run: bool
    matched: int
    redriven: int
    skipped: int
    failed: int
    filter: RedriveFilter = field(default_factory=RedriveFilter)
    rate: float | None = None
    limit: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def done(self) -> bool:
        """True once the job is COMPLETED, CANCELLED or FAILED."""
        return self.state in FINISHED_REDRIVE_STATES

    @classmethod
    def from_json(cls, value: Any) -> "Redrive":
        """Parse a re-drive body."""
        data = _object(value, "redrive")
        return cls(
            id=_str(data, "id"),
            state=RedriveState(_str(data, "state")),
            dry_run=_bool(data, "dry_run"),
            matched=_int(data, "matched"),
            redriven=_int(data, "redriven"),
            skipped=_int(data, "skipped"),
            failed=_int(data, "failed"),
            filter=RedriveFilter.from_json(data.get("filter")),
            rate=_opt_float(data, "rate"),
            limit=_opt_int(data, "limit"),
            created_at=_opt_time(data, "created_at"),
            updated_at=_opt_time(data, "updated_at"),
            finished_at=_opt_time(data, "finished_at"),
        )
