"""The per-request hooks of the API, in one place and in the order `ApiFlask` states.

Before the view: read the correlation id and start the clock and the log context, then
authenticate the caller, then let Flask-Limiter (the only hook registered the usual way) spend
the caller's budget. After the view, once Flask-Limiter added its headers: name the auth
scheme on a 401, keep `Retry-After` only where it means something (429 and 503), echo the
correlation id, count and log the request.
"""

import logging
import time

from flask import Flask, Response, g, request

from taskkit import logsetup
from webapp import auth, metrics
from webapp.routing import route_label
from webapp.validation import correlation_id_from

log = logging.getLogger("webapp.requests")

CORRELATION_HEADER = "X-Correlation-Id"
# Scrapes and probes arrive every few seconds; a line for each would bury the requests an
# operator follows.
QUIET_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
TOO_MANY_REQUESTS = 429
# RFC 9110 gives Retry-After a meaning on 503 and 3xx, RFC 6585 on 429; Flask-Limiter adds it
# to every response it counts, where a client could take it for a reason to wait.
RETRY_AFTER_STATUSES = frozenset({429, 503})


class ApiFlask(Flask):
    """Flask with the API's hooks around every request, in the order written here."""

    def preprocess_request(self) -> Response | None:
        begin_request()
        auth.authenticate()
        # Then the registered before-request functions: Flask-Limiter's check, which spends
        # the budget of the caller just authenticated.
        return super().preprocess_request()  # type: ignore[return-value]

    def process_response(self, response: Response) -> Response:
        # First the registered after-request functions (Flask-Limiter's headers), then ours.
        response = super().process_response(response)
        return finish_request(response)


def begin_request() -> None:
    """Read the correlation id, start the clock and the request's log context."""
    g.correlation_id = correlation_id_from(request.headers.get(CORRELATION_HEADER))
    g.started = time.perf_counter()
    logsetup.clear()
    logsetup.bind(correlation_id=g.correlation_id)


def finish_request(response: Response) -> Response:
    """Complete the response's headers, then count and log the request."""
    auth.challenge(response)
    if response.status_code not in RETRY_AFTER_STATUSES:
        response.headers.pop("Retry-After", None)
    if "correlation_id" in g:
        response.headers[CORRELATION_HEADER] = g.correlation_id
    route = route_label()
    metrics.HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    if response.status_code == TOO_MANY_REQUESTS:
        # Counted from the response, so it covers every limit however it is declared.
        metrics.HTTP_RATE_LIMITED.labels(request.method, route).inc()
    started = g.get("started")
    elapsed_s = time.perf_counter() - started if started is not None else 0.0
    if started is not None:
        metrics.HTTP_LATENCY.labels(request.method, route).observe(elapsed_s)
    if request.path not in QUIET_PATHS:
        log.info(
            "%s %s %d %.1fms", request.method, request.path, response.status_code, elapsed_s * 1e3
        )
    return response


def task_accepted(task_id: str, task_type: str) -> None:
    """Name the task this request created in the rest of its log lines: the request's own
    line (finish_request) then says which task it accepted, so it needs no line of its own."""
    logsetup.bind(task_id=task_id, task_type=task_type)


def init_app(app: Flask) -> None:
    """Pre-create the series dashboards look for, and forget the log context after each request."""
    # A series that exists at zero lets rate() see the first refusal, and dashboards find it.
    metrics.HTTP_RATE_LIMITED.labels("POST", "/api/tasks")
    app.teardown_request(lambda _exc: logsetup.clear())
