"""What every call shares: endpoints, the call as data, building its request, reading its
answer or the error it stands for, and the pauses of waits."""

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from taskservice_client import errors
from taskservice_client.models import Task
from taskservice_client.operator_models import Redrive
from taskservice_client.retry import retry_after_s
from taskservice_client.version import __version__

T = TypeVar("T")

IDEMPOTENCY_HEADER = "Idempotency-Key"
CORRELATION_HEADER = "X-Correlation-Id"
PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "correlation_id"})
ERRORS_BY_STATUS: Mapping[int, type[errors.ApiError]] = {
    400: errors.ValidationFailed,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    413: errors.ValidationFailed,
    415: errors.ValidationFailed,
    422: errors.ValidationFailed,
    429: errors.RateLimited,
    503: errors.Unavailable,
}


@dataclass(frozen=True)
class Endpoint:
    """An operation of the API: its method and its path, `{}` standing for an id."""

    method: str
    path: str

    def url(self, *ids: str) -> str:
        """The path with each id filled in, escaped so an id can never leave its segment."""
        return self.path.format(*(quote(i, safe="") for i in ids))


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request to send (and, on retries, to send again unchanged) and how to read its answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: tuple[tuple[str, str], ...] = ()
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # False when running the request twice would do its work twice; such a call is resent only
    # when the first try provably never reached the server.
    replay_safe: bool = True


def http_options(base_url: str, api_key: str, timeout_s: float) -> dict[str, Any]:
    """Keyword arguments of the httpx client (sync or async) behind a Client."""
    return {
        "base_url": base_url,
        "timeout": timeout_s,
        "headers": {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json, application/problem+json",
            "User-Agent": f"taskservice-client/{__version__}",
        },
    }


def build_request(http: httpx.Client | httpx.AsyncClient, call: Call[Any]) -> httpx.Request:
    """The httpx request of a call; the same call always gives the same bytes and headers."""
    headers = dict(call.headers)
    content = None
    if call.body is not None:
        # allow_nan=False: the API refuses NaN, and a ValueError here names the culprit sooner.
        content = json.dumps(call.body, allow_nan=False, separators=(",", ":")).encode()
        headers["Content-Type"] = "application/json"
    return http.build_request(
        call.method, call.path, params=list(call.params), content=content, headers=headers
    )


def error_from(response: httpx.Response) -> errors.ApiError:
    """The client error of a non-2xx answer, from its problem+json body when it has one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    problem: dict[str, Any] = body if isinstance(body, dict) else {}

    def text(name: str, default: str | None) -> str | None:
        value = problem.get(name)
        return value if isinstance(value, str) else default

    status = response.status_code
    title = text("title", None) or response.reason_phrase or "Error"
    # A proxy's HTML page is no problem document; its first characters still help a reader.
    detail = text("detail", None) if problem else response.text[:200]
    options: dict[str, Any] = {
        "type": text("type", "about:blank"),
        "instance": text("instance", None),
        "correlation_id": text("correlation_id", response.headers.get(CORRELATION_HEADER)),
        "extra": {k: v for k, v in problem.items() if k not in PROBLEM_MEMBERS},
    }
    cls = ERRORS_BY_STATUS.get(status, errors.ApiError)
    if cls is errors.RateLimited:
        return errors.RateLimited(
            status, title, detail or "", retry_after_s=retry_after_s(response.headers), **options
        )
    return cls(status, title, detail or "", **options)


def finish(call: Call[T], response: httpx.Response) -> T:
    """The parsed answer of a call, or the error it stands for."""
    if not response.is_success:
        raise error_from(response)
    try:
        return call.parse(response)
    except (KeyError, TypeError, ValueError) as err:
        raise errors.UnexpectedResponse(
            f"{call.method} {call.path} answered {response.status_code} with a body this "
            f"client cannot read: {err!r}"
        ) from err


def poll_pause_s(deadline: float, now: float, poll_interval_s: float) -> float | None:
    """How long to sleep before polling again, None once the deadline has passed."""
    remaining = deadline - now
    return None if remaining <= 0 else min(poll_interval_s, remaining)


def wait_timeout(last: Task | Redrive, timeout_s: float) -> errors.WaitTimeout:
    """The error of a wait that ran out of time, naming where the task or job still was."""
    if isinstance(last, Task):
        what = f"task {last.id} is still {last.status}"
    else:
        what = f"re-drive {last.id} is still {last.state}"
    return errors.WaitTimeout(f"{what} after {timeout_s:g} s", last)
