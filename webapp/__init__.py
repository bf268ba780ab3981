"""The HTTP API: `gunicorn "webapp:create_app()"`. The relay runs as `python -m webapp.relay`."""

import logging
import time

from flask import Flask, Response, g, request

from celery_tasks.handlers import registry
from celery_tasks.logsetup import configure_logging
from celery_tasks.registry import Registry
from celery_tasks.settings import LogSettings
from webapp import (
    auth,
    batch_api,
    cancel_api,
    health,
    metrics,
    metrics_endpoint,
    observability,
    openapi,
    problems,
    ratelimit,
    search_api,
    tasks_api,
)
from webapp.routing import TaskIdConverter, route_label
from webapp.services import Services, init_app
from webapp.settings import WebSettings
from webapp.validation import correlation_id_from

CORRELATION_HEADER = "X-Correlation-Id"


def create_app(settings: WebSettings | None = None, handlers: Registry | None = None) -> Flask:
    """Build the API. Settings come from the environment unless a test passes its own."""
    settings = settings or WebSettings.from_env()
    app = Flask(__name__)
    # Must be known before the blueprints' rules are added.
    app.url_map.converters["task_id"] = TaskIdConverter
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if not logging.getLogger().handlers:
        # Under gunicorn, webapp/gunicorn_conf.py has set up logging already.
        configure_logging(LogSettings.from_env(), service="api")
    init_app(app, Services(settings, handlers or registry))
    problems.init_app(app)
    app.register_blueprint(tasks_api.bp)
    app.register_blueprint(search_api.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics_endpoint.bp)
    app.register_blueprint(batch_api.bp)
    app.register_blueprint(cancel_api.bp)
    app.register_blueprint(openapi.bp)

    @app.before_request
    def start_request() -> None:
        g.correlation_id = correlation_id_from(request.headers.get(CORRELATION_HEADER))
        g.started = time.perf_counter()

    @app.after_request
    def finish_request(response: Response) -> Response:
        if "correlation_id" in g:
            response.headers[CORRELATION_HEADER] = g.correlation_id
        route = route_label()
        metrics.HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        if "started" in g:
            elapsed = time.perf_counter() - g.started
            metrics.HTTP_LATENCY.labels(request.method, route).observe(elapsed)
        return response

    # After start_request, so the log context sees the correlation id it read.
    observability.init_app(app)
    # Authentication before rate limiting: the limiter's budget is the caller's API key.
    auth.init_app(app)
    ratelimit.init_app(app, settings)
    return app
