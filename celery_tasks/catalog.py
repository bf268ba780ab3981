"""The task catalog: every task type the service accepts, with its payload validator and limits.

No handler bodies live here. The API and the CLI validate submissions against the catalog and
the bridge reads each type's time limits from it to enqueue, without loading the worker's code;
`celery_tasks/handlers.py` gives every type of the catalog its body, and the worker checks at
start that none is missing.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from celery_tasks.errors import InvalidPayloadError, UnknownTaskTypeError

Validator = Callable[[dict[str, Any]], None]

# The longest `sleep` a payload may ask for; its time limits are derived from it.
MAX_SLEEP_S = 300


@dataclass(frozen=True)
class TaskType:
    """A task type: its name, the check of its payload, and its limits (None: the defaults)."""

    name: str
    validate: Validator | None = None
    soft_time_limit_s: int | None = None
    time_limit_s: int | None = None
    summary: str = ""


class Catalog:
    """Task types by name."""

    def __init__(self, types: Iterable[TaskType]) -> None:
        self._types: dict[str, TaskType] = {}
        for task_type in types:
            if task_type.name in self._types:
                raise ValueError(f"task type {task_type.name!r} is listed twice")
            self._types[task_type.name] = task_type

    def get(self, name: str) -> TaskType:
        """The type called `name`, or UnknownTaskTypeError."""
        try:
            return self._types[name]
        except KeyError:
            raise UnknownTaskTypeError(f"no task type {name!r} is registered") from None

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._types))

    def __len__(self) -> int:
        return len(self._types)


def _non_negative_int(payload: dict[str, Any], key: str, default: int) -> None:
    value = payload.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidPayloadError(f"'{key}' must be a non-negative integer")


def validate_sleep(payload: dict[str, Any]) -> None:
    """`seconds` is a number from 0 to MAX_SLEEP_S."""
    seconds = payload.get("seconds", 1)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise InvalidPayloadError("'seconds' must be a number")
    if not 0 <= seconds <= MAX_SLEEP_S:
        raise InvalidPayloadError(f"'seconds' must be between 0 and {MAX_SLEEP_S}")


def validate_fail(payload: dict[str, Any]) -> None:
    """`times` and `healed_after_redrives` are counts; `permanent` and
    `permanent_after_redrive` are booleans."""
    _non_negative_int(payload, "times", 0)
    for flag in ("permanent", "permanent_after_redrive"):
        if not isinstance(payload.get(flag, False), bool):
            raise InvalidPayloadError(f"'{flag}' must be a boolean")
    _non_negative_int(payload, "healed_after_redrives", 0)


def validate_crash(payload: dict[str, Any]) -> None:
    """`times` is a count."""
    _non_negative_int(payload, "times", 1_000_000)


CATALOG = Catalog(
    [
        TaskType("process_data", summary="summarise the payload (digest, fields, number stats)"),
        TaskType("echo", summary="return the payload unchanged"),
        TaskType(
            "sleep",
            validate_sleep,
            soft_time_limit_s=MAX_SLEEP_S + 30,
            time_limit_s=MAX_SLEEP_S + 60,
            summary="sleep for `seconds` (default 1)",
        ),
        TaskType("fail", validate_fail, summary="fail on purpose (`times`, `permanent`)"),
        TaskType("crash", validate_crash, summary="kill the worker process (fault drills only)"),
    ]
)
