"""Per-request log context and request log lines of the API, and its rate-limit counter."""

import logging
import time

from flask import Flask, Response, g, request

from celery_tasks import logsetup
from webapp import metrics
from webapp.routing import route_label

log = logging.getLogger("webapp.requests")

# Scrapes and probes arrive every few seconds; a line for each would bury the requests
# an operator follows.
QUIET_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
TOO_MANY_REQUESTS = 429


def bind_request_context() -> None:
    """Start the log context of this request with its correlation id."""
    logsetup.clear()
    logsetup.bind(correlation_id=g.get("correlation_id"))


def task_accepted(task_id: str, task_type: str) -> None:
    """Name the task this request created in the rest of its log lines, and log it."""
    logsetup.bind(task_id=task_id, task_type=task_type)
    log.info("task %s accepted (%s)", task_id, task_type)


def finish_request(response: Response) -> Response:
    """Count refusals of the rate limiter and write one line per request."""
    route = route_label()
    if response.status_code == TOO_MANY_REQUESTS:
        # Counted from the response, so it covers every limit however it is declared.
        metrics.HTTP_RATE_LIMITED.labels(request.method, route).inc()
    if request.path not in QUIET_PATHS:
        started = g.get("started")
        elapsed_ms = (time.perf_counter() - started) * 1000 if started is not None else 0.0
        log.info("%s %s %d %.1fms", request.method, request.path, response.status_code, elapsed_ms)
    return response


def init_app(app: Flask) -> None:
    """Register the hooks; call after the hook that reads the correlation id header."""
    # A series that exists at zero lets rate() see the first refusal, and dashboards find it.
    metrics.HTTP_RATE_LIMITED.labels("POST", "/api/tasks")
    app.before_request(bind_request_context)
    app.after_request(finish_request)
    app.teardown_request(lambda _exc: logsetup.clear())
