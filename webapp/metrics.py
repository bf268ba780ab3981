"""Metrics of the API (public API: dashboards and alerts use these names)."""

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter("http_requests", "HTTP requests served.", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency.", ["method", "route"]
)
TASKS_SUBMITTED = Counter("tasks_submitted", "Tasks accepted by the API.", ["type"])
RATE_LIMIT_STORAGE_ERRORS = Counter(
    "rate_limit_storage_errors",
    "Rate-limit checks that could not reach Redis and let the request through (fail open).",
)

HTTP_RATE_LIMITED = Counter(
    "http_rate_limited_requests",
    "Requests the rate limiter refused with 429, by route.",
    ["method", "route"],
)
