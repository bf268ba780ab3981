"""Reading the API's JSON strictly: each helper returns a member of a given type or raises a
ValueError or TypeError naming it, which the calls turn into `UnexpectedResponse`."""

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

# Marks a field the client fills itself rather than reading it from the response body.
LOCAL = {"json": False}


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


def as_object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{name} must be a JSON object, not {type(value).__name__}")
    return value


def string(data: Mapping[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string")
    return value


def opt_string(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    return None if value is None else string(data, name)


def integer(data: Mapping[str, Any], name: str) -> int:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer")
    return value


def opt_integer(data: Mapping[str, Any], name: str) -> int | None:
    return None if data.get(name) is None else integer(data, name)


def opt_float(data: Mapping[str, Any], name: str) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number")
    return float(value)


def boolean(data: Mapping[str, Any], name: str, default: bool = False) -> bool:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false")
    return value


def opt_time(data: Mapping[str, Any], name: str) -> datetime | None:
    value = opt_string(data, name)
    return None if value is None else datetime.fromisoformat(value)


def opt_object(data: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    value = data.get(name)
    return None if value is None else as_object(value, name)


def strings(data: Mapping[str, Any], name: str) -> tuple[str, ...]:
    values = data.get(name) or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise TypeError(f"{name} must be a list of strings")
    return tuple(values)
