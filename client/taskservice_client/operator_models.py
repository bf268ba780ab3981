"""The operator surface's answers: the attempts of a task and the re-drives of failed tasks."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from taskservice_client.parsing import (
    as_object,
    boolean,
    integer,
    opt_float,
    opt_integer,
    opt_object,
    opt_string,
    opt_time,
    rfc3339,
    string,
    strings,
)


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
        data = as_object(value, "attempt")
        return cls(
            attempt=integer(data, "attempt"),
            run=opt_integer(data, "run") or 0,
            worker=opt_string(data, "worker"),
            started_at=opt_time(data, "started_at"),
            finished_at=opt_time(data, "finished_at"),
            outcome=opt_string(data, "outcome"),
            error_type=opt_string(data, "error_type"),
            error=opt_string(data, "error"),
            duration_s=opt_float(data, "duration_s"),
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
        data = as_object(value or {}, "filter")
        return cls(
            types=strings(data, "types"),
            error_types=strings(data, "error_types"),
            failed_since=opt_time(data, "failed_since"),
            failed_until=opt_time(data, "failed_until"),
            task_ids=strings(data, "task_ids"),
            payload=opt_object(data, "payload"),
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
        data = as_object(value, "redrive")
        return cls(
            id=string(data, "id"),
            state=RedriveState(string(data, "state")),
            dry_run=boolean(data, "dry_run"),
            matched=integer(data, "matched"),
            redriven=integer(data, "redriven"),
            skipped=integer(data, "skipped"),
            failed=integer(data, "failed"),
            filter=RedriveFilter.from_json(data.get("filter")),
            rate=opt_float(data, "rate"),
            limit=opt_integer(data, "limit"),
            created_at=opt_time(data, "created_at"),
            updated_at=opt_time(data, "updated_at"),
            finished_at=opt_time(data, "finished_at"),
        )
