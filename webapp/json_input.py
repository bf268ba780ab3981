"""Strict JSON for what clients send (bodies, payload strings, query parameters).

The standard library's decoder accepts texts the rest of the service cannot store or answer:
`NaN` and `Infinity`, numbers such as `1e400` that overflow to infinity, integers longer than
Python's conversion limit (a ValueError that is not a JSONDecodeError), nesting deep enough to
exhaust the stack, and string escapes PostgreSQL's jsonb refuses (U+0000) or that are not
Unicode at all (a lone surrogate such as "\\ud800", which no UTF-8 encoder can write). Each of
these is refused here with a reason, so a request can only end in 2xx or a 4xx problem.
"""

import json
import math
from typing import Any

MAX_JSON_DEPTH = 32


class JsonInputError(ValueError):
    """Raised for a text that is not strict JSON (a 400 in a request body)."""


class JsonContentError(JsonInputError):
    """Raised for well-formed JSON holding a string the task store cannot keep (a 422)."""


def _reject_constant(name: str) -> None:
    raise JsonInputError(f"JSON constant {name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonInputError(f"number {text[:40]} is out of range")
    return value


def _check_string(text: str, what: str) -> None:
    if "\x00" in text:
        raise JsonContentError(f"{what} must not contain the character U+0000")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise JsonContentError(
                f"{what} must be Unicode text (a lone surrogate escape such as \\ud800 is not)"
            ) from None


def check_value(value: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse nesting deeper than `limit` and strings the task store cannot keep."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if level > limit:
            raise JsonInputError(f"JSON is nested deeper than {limit} levels")
        if isinstance(item, str):
            _check_string(item, "strings")
        elif isinstance(item, dict):
            for key, val in item.items():
                _check_string(key, "keys")
                stack.append((val, level + 1))
        elif isinstance(item, list):
            stack.extend((v, level + 1) for v in item)


def loads(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> Any:
    """Parse strict JSON; raise JsonInputError (or JsonContentError) saying what is wrong."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise JsonInputError("not valid UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as err:
        raise JsonInputError(f"not valid JSON: {err}") from None
    except RecursionError:
        raise JsonInputError(f"JSON is nested deeper than {limit} levels") from None
    except JsonInputError:
        raise
    except ValueError as err:
        # int() refuses more than sys.get_int_max_str_digits() digits (CVE-2020-10735).
        raise JsonInputError(f"a number is too long: {err}") from None
    check_value(value, limit)
    return value
