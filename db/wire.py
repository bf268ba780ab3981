"""The wire formats of the Kafka topics `tasks` and `tasks-dlt`: build and decode each record.

A record's key is the task id; its value is a JSON object; the correlation id travels in the
header `correlation_id` (and, on `tasks-dlt`, in the value too). One contract for input that is
not a record of this service: `decode_task` and `decode_dlt` raise RecordDecodeError saying
what is wrong, and the caller decides what to do with it (the bridge logs, counts and skips it;
the DLT reader skips it).
"""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from db.errors import RecordDecodeError
from db.ids import parse_task_id
from db.topics import RECORD_MAX_BYTES

CORRELATION_HEADER = "correlation_id"

Headers = Sequence[tuple[str, bytes | None]] | None


@dataclass(frozen=True)
class TaskRecord:
    """A `tasks` record: which task to run, its type and priority."""

    task_id: str
    type: str
    priority: int
    correlation_id: str | None


@dataclass(frozen=True)
class DltRecord:
    """A `tasks-dlt` record: the task, why it failed, and where it sits in the topic."""

    task_id: str
    type: str
    error: str | None
    error_type: str | None
    attempts: int
    failed_at: datetime | None
    correlation_id: str | None
    payload: dict[str, Any] = field(default_factory=dict)
    partition: int = -1
    offset: int = -1

    def summary(self) -> dict[str, Any]:
        """The record as plain JSON values (for `--json`)."""
        return {
            "id": self.task_id,
            "type": self.type,
            "error_type": self.error_type,
            "error": self.error,
            "attempts": self.attempts,
            "failed_at": self.failed_at.isoformat() if self.failed_at else None,
            "correlation_id": self.correlation_id,
            "payload": self.payload,
            "partition": self.partition,
            "offset": self.offset,
        }


def headers_of(correlation_id: str | None) -> dict[str, str]:
    """The headers a record of a task with this correlation id carries."""
    return {CORRELATION_HEADER: correlation_id} if correlation_id else {}


def header_value(headers: Headers, name: str) -> str | None:
    """The last value of header `name`, decoded as UTF-8; None when absent or undecodable."""
    found: str | None = None
    for key, value in headers or []:
        if key == name and value is not None:
            try:
                found = value.decode("utf-8")
            except UnicodeDecodeError:
                found = None
    return found


def encode_value(value: dict[str, Any]) -> bytes:
    """A record's value as compact UTF-8 JSON.

    Not ASCII-escaped: json.dumps would write each non-ASCII character of a payload as a
    six-byte escape, so a payload within the API's body limit could exceed the record limit.
    """
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def task_value(
    task_id: uuid.UUID, created_at: datetime, task_type: str, priority: int
) -> dict[str, Any]:
    """The JSON value of a `tasks` record."""
    return {
        "id": str(task_id),
        "created_at": created_at.isoformat(),
        "type": task_type,
        "priority": priority,
    }


# Room left in a record for its key, headers and framing (db/topics.py, RECORD_MAX_BYTES).
DLT_VALUE_MAX_BYTES = RECORD_MAX_BYTES - 16_384


def dlt_value(task: dict[str, Any], max_bytes: int = DLT_VALUE_MAX_BYTES) -> dict[str, Any]:
    """The JSON value of a FAILED task's `tasks-dlt` record, from its row's columns.

    A record carries what fits: when the payload would make it larger than `max_bytes`, the
    payload is left out, the record says so (`payload_omitted`, with its size) and points to the
    row, where the payload stays (`GET /api/tasks/<id>`, `taskctl get <id>`).
    """
    value = _dlt_fields(task)
    size = len(encode_value(value))
    if size <= max_bytes:
        return value
    value["payload"] = None
    value["payload_omitted"] = {
        "bytes": len(encode_value(task["payload"])),
        "reason": f"the record would be {size} bytes, over the limit of {max_bytes}",
    }
    value["row"] = {"id": str(task["id"]), "created_at": task["created_at"].isoformat()}
    return value


def _dlt_fields(task: dict[str, Any]) -> dict[str, Any]:
    failed_at = task.get("finished_at") or datetime.now(UTC)
    return {
        "id": str(task["id"]),
        "created_at": task["created_at"].isoformat(),
        "type": task["type"],
        "payload": task["payload"],
        "priority": task["priority"],
        "tenant": task["tenant"],
        "error": task["last_error"],
        "error_type": task["error_type"],
        "attempts": task["attempts"],
        "max_attempts": task["max_attempts"],
        "redrive_count": task["redrive_count"],
        "failed_at": failed_at.isoformat(),
        "correlation_id": task["correlation_id"],
    }


def _object(value: bytes | None) -> dict[str, Any]:
    if value is None:
        raise RecordDecodeError("record has no value")
    try:
        body: Any = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise RecordDecodeError(f"record value is not JSON: {err}") from None
    if not isinstance(body, dict):
        raise RecordDecodeError("record value is not a JSON object")
    task_id = body.get("id")
    if not isinstance(task_id, str) or parse_task_id(task_id) is None:
        raise RecordDecodeError("record has no valid task id")
    task_type = body.get("type")
    if not isinstance(task_type, str) or not task_type:
        raise RecordDecodeError("record has no task type")
    return body


def decode_task(value: bytes | None, headers: Headers) -> TaskRecord:
    """Decode a `tasks` record, or raise RecordDecodeError saying what is wrong with it."""
    body = _object(value)
    priority = body.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise RecordDecodeError("record priority is not an integer")
    return TaskRecord(body["id"], body["type"], priority, header_value(headers, CORRELATION_HEADER))


def decode_dlt(value: bytes | None, headers: Headers = None) -> DltRecord:
    """Decode a `tasks-dlt` record, or raise RecordDecodeError saying what is wrong with it."""
    body = _object(value)
    failed_at = body.get("failed_at")
    payload = body.get("payload")
    attempts = body.get("attempts") or 0
    try:
        failed = datetime.fromisoformat(failed_at) if isinstance(failed_at, str) else None
    except ValueError:
        raise RecordDecodeError(f"record failed_at is not a timestamp: {failed_at!r}") from None
    if isinstance(attempts, bool) or not isinstance(attempts, int):
        raise RecordDecodeError("record attempts is not an integer")
    correlation_id = body.get("correlation_id")
    return DltRecord(
        task_id=body["id"],
        type=body["type"],
        error=_text(body.get("error")),
        error_type=_text(body.get("error_type")),
        attempts=attempts,
        failed_at=failed,
        correlation_id=_text(correlation_id) or header_value(headers, CORRELATION_HEADER),
        payload=payload if isinstance(payload, dict) else {},
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
