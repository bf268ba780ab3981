"""Decoding of `tasks` records: JSON value plus the correlation id header."""

import json
from dataclasses import dataclass
from typing import Any

from bridge.errors import RecordDecodeError
from db.ids import parse_task_id


@dataclass(frozen=True)
class TaskRecord:
    """What the bridge needs from a `tasks` record to queue the task."""

    task_id: str
    type: str
    priority: int
    correlation_id: str | None


def header_value(headers: list[tuple[str, bytes | None]] | None, name: str) -> str | None:
    """The last value of header `name`, decoded as UTF-8; None when absent or undecodable."""
    found: str | None = None
    for key, value in headers or []:
        if key == name and value is not None:
            try:
                found = value.decode("utf-8")
            except UnicodeDecodeError:
                found = None
    return found


def decode_record(
    value: bytes | None, headers: list[tuple[str, bytes | None]] | None
) -> TaskRecord:
    """Decode one record, or raise RecordDecodeError saying what is wrong with it."""
    if value is None:
        raise RecordDecodeError("record has no value")
    try:
        body: Any = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RecordDecodeError(f"record value is not JSON: {err}") from None
    if not isinstance(body, dict):
        raise RecordDecodeError("record value is not a JSON object")
    task_id = body.get("id")
    if not isinstance(task_id, str) or parse_task_id(task_id) is None:
        raise RecordDecodeError("record has no valid task id")
    task_type = body.get("type")
    if not isinstance(task_type, str) or not task_type:
        raise RecordDecodeError("record has no task type")
    priority = body.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise RecordDecodeError("record priority is not an integer")
    return TaskRecord(task_id, task_type, priority, header_value(headers, "correlation_id"))
