"""JSON representations of tasks in API responses."""

from datetime import datetime
from typing import Any

PUBLIC_FIELDS = (
    "id",
    "type",
    "status",
    "payload",
    "result",
    "priority",
    "attempts",
    "max_attempts",
    "last_error",
    "error_type",
    "correlation_id",
    "created_at",
    "updated_at",
    "run_at",
    "started_at",
    "finished_at",
    "next_attempt_at",
    "redrive_count",
    "cancel_requested",
    "tenant",
    "callback_url",
)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if value is not None and not isinstance(value, str | int | float | bool | dict | list):
        return str(value)
    return value


def task_view(row: dict[str, Any]) -> dict[str, Any]:
    """The API's view of a task row (internal fencing columns are left out)."""
    view = {name: _jsonable(row.get(name)) for name in PUBLIC_FIELDS}
    view["links"] = {"self": f"/api/tasks/{row['id']}"}
    return view
