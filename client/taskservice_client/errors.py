"""Every error the client raises; catch `TaskServiceError` for all of them."""

from collections.abc import Mapping
from typing import Any

from taskservice_client.models import (
    Task,
)
from taskservice_client.operator_models import (
    Redrive,
)


class TaskServiceError(Exception):
    """Root of the client's errors."""


class ApiError(TaskServiceError):
    """Raised when the API answers with an error (an application/problem+json body)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        type: str = "about:blank",
        instance: str | None = None,
        correlation_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}" if detail else f"{status} {title}")
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.instance = instance
        self.correlation_id = correlation_id
        # The problem's other members: `errors` of a batch, `parameter` of a search, ...
        self.extra: dict[str, Any] = dict(extra or {})


class ValidationFailed(ApiError):
    """Raised when the API refuses the request's content (400, 413, 415 or 422)."""

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The invalid items of a batch, each with its `index` and `detail`."""
        items = self.extra.get("errors")
        return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


class Unauthorized(ApiError):
    """Raised when the API key is missing, malformed or revoked (401)."""


class Forbidden(Unauthorized):
    """Raised when the API key lacks the scope the operation needs (403)."""


class NotFound(ApiError):
    """Raised when the task or re-drive does not exist for this tenant (404)."""


class Conflict(ApiError):
    """Raised when the request conflicts with the resource's state or an Idempotency-Key (409)."""


class RateLimited(ApiError):
    """Raised when the key's rate limit is spent and retrying is not allowed or is used up (429)."""

    def __init__(
        self, status: int, title: str, detail: str, *, retry_after_s: float | None, **kw: Any
    ) -> None:
        super().__init__(status, title, detail, **kw)
        self.retry_after_s = retry_after_s


class Unavailable(ApiError):
    """Raised when the API stays unavailable (503) through every retry."""


class UnexpectedResponse(TaskServiceError):
    """Raised when a successful answer is not the JSON this client reads."""


class ConnectionFailed(TaskServiceError):
    """Raised when the API cannot be reached, or the connection breaks, through every retry."""


class WaitTimeout(TaskServiceError):
    """Raised when a task or re-drive is not finished within the time `wait` was given."""

    def __init__(self, message: str, last: Task | Redrive) -> None:
        super().__init__(message)
        # The last state seen, so the caller can tell how far it got.
        self.last = last
