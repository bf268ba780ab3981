"""The HTTP API: `gunicorn "webapp:create_app()"`. The relay runs as `python -m webapp.relay`."""

import logging
import time

from flask import Flask, Response, g, request

from celery_tasks.handlers import registry
from celery_tasks.registry import Registry
from webapp import health, metrics, metrics_endpoint, problems, tasks_api
from webapp.services import Services, init_app
from webapp.settings import WebSettings
from webapp.validation import correlation_id_from

CORRELATION_HEADER = "X-Correlation-Id"


def create_app(settings: WebSettings | None = None, handlers: Registry | None = None) -> Flask:
    """Build the API. Settings come from the environment unless a test passes its own."""
    settings = settings or WebSettings.from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
    init_app(app, Services(settings, handlers or registry))
    problems.init_app(app)
    app.register_blueprint(tasks_api.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics_endpoint.bp)

    @app.before_request
    def start_request() -> None:
        g.correlation_id = correlation_id_from(request.headers.get(CORRELATION_HEADER))
        g.started = time.perf_counter()

    @app.after_request
    def finish_request(response: Response) -> Response:
        if "correlation_id" in g:
            response.headers[CORRELATION_HEADER] = g.correlation_id
        route = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        if "started" in g:
            elapsed = time.perf_counter() - g.started
            metrics.HTTP_LATENCY.labels(request.method, route).observe(elapsed)
        return response

    return app
