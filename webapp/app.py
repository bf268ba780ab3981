"""The API's app factory: `create_app(settings)` builds the Flask app with every blueprint."""

from flask import Flask

from celery_tasks.catalog import CATALOG, Catalog
from taskkit.logsetup import configure_logging
from taskkit.settings import settings_or_exit
from webapp import (
    batch_api,
    cancel_api,
    console,
    health,
    history_api,
    hooks,
    metrics_endpoint,
    openapi,
    problems,
    ratelimit,
    redrives_api,
    search_api,
    tasks_api,
    webhooks_api,
)
from webapp.routing import TaskIdConverter
from webapp.services import EXTENSION, Services, init_app
from webapp.settings import WebSettings

BLUEPRINTS = (
    tasks_api.bp,
    search_api.bp,
    health.bp,
    metrics_endpoint.bp,
    batch_api.bp,
    cancel_api.bp,
    openapi.bp,
    history_api.bp,
    webhooks_api.bp,
    redrives_api.bp,
)


def create_app(settings: WebSettings | None = None, catalog: Catalog = CATALOG) -> Flask:
    """Build the API. Settings come from the environment unless a test passes its own."""
    if settings is None:
        settings = settings_or_exit(WebSettings.from_env, "api")
        configure_logging(settings.log, service="api")
    app = hooks.ApiFlask(__name__)
    # Must be known before the blueprints' rules are added.
    app.url_map.converters["task_id"] = TaskIdConverter
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    init_app(app, Services(settings, catalog))
    problems.init_app(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    hooks.init_app(app)
    ratelimit.init_app(app, settings)
    console.init_app(app, settings)
    return app


def close_app(app: Flask) -> None:
    """Release what `create_app` made: pools, the limiter's Redis, the console's threads."""
    app.extensions[EXTENSION].close()
    ratelimit.close(app)
    console.close(app)
