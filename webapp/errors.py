"""Errors the API answers with; each maps to one application/problem+json response."""

from typing import Any


class ApiError(Exception):
    """Root of the API's errors: an HTTP status, a short title and a detail for the client."""

    status = 500
    title = "Internal Server Error"
    slug = "internal"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class BadRequestError(ApiError):
    """Raised when the body or a parameter cannot be parsed."""

    status, title, slug = 400, "Bad Request", "bad-request"


class UnauthorizedError(ApiError):
    """Raised when a request that needs an API key has none, a malformed one or a revoked one."""

    status, title, slug = 401, "Unauthorized", "unauthorized"


class ForbiddenError(ApiError):
    """Raised when the API key lacks the scope the endpoint needs."""

    status, title, slug = 403, "Forbidden", "forbidden"


class ConflictError(ApiError):
    """Raised when a request conflicts with the task's state or an earlier idempotent request."""

    status, title, slug = 409, "Conflict", "conflict"


class NotFoundError(ApiError):
    """Raised when a task does not exist (or the id cannot name one)."""

    status, title, slug = 404, "Not Found", "not-found"


class PayloadTooLargeError(ApiError):
    """Raised when the request body exceeds the configured limit."""

    status, title, slug = 413, "Payload Too Large", "payload-too-large"


class UnsupportedMediaTypeError(ApiError):
    """Raised when a body is sent with a content type other than JSON."""

    status, title, slug = 415, "Unsupported Media Type", "unsupported-media-type"


class ValidationError(ApiError):
    """Raised when a well-formed body describes a task the service cannot accept."""

    status, title, slug = 422, "Unprocessable Content", "validation"


class ServiceUnavailableError(ApiError):
    """Raised when a dependency the request needs is down."""

    status, title, slug = 503, "Service Unavailable", "unavailable"
