"""Fixtures of the API tests: an app on the integration database and its test client."""

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.webapp.apikit import make_settings
from tests.webapp.consolekit import Made, close, console_app
from webapp.app import close_app, create_app


@pytest.fixture
def app(it_database_url: str) -> Iterator[Flask]:
    flask_app = create_app(make_settings(it_database_url))
    yield flask_app
    close_app(flask_app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# Modules whose tests submit tasks through the API; each deletes what it created, so tests that
# scan the integration database (the reconciler's, say) never meet their leftovers.
SUBMITTING_MODULES = frozenset(
    {
        "test_auth",
        "test_bad_input",
        "test_batch",
        "test_cancel",
        "test_hooks",
        "test_idempotency",
        "test_json_body",
        "test_openapi_fuzz",
        "test_operator_api",
        "test_ratelimit",
        "test_relay_wakeup",
    }
)


@pytest.fixture(autouse=True)
def _delete_tasks_the_test_created(request: pytest.FixtureRequest) -> Iterator[None]:
    if request.module.__name__.rsplit(".", 1)[-1] not in SUBMITTING_MODULES:
        yield
        return
    engine: sa.Engine = request.getfixturevalue("engine")
    with engine.connect() as conn:
        started = conn.execute(sa.text("SELECT now() - interval '1 second'")).scalar_one()
    yield
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM outbox WHERE created_at >= :s"), {"s": started})
        conn.execute(sa.text("DELETE FROM tasks WHERE created_at >= :s"), {"s": started})


@pytest.fixture
def made(engine: sa.Engine) -> Iterator[Made]:
    """Tasks, keys and re-drives a console test makes, deleted after it."""
    found = Made(engine)
    yield found
    found.cleanup()


@pytest.fixture
def console(it_database_url: str) -> Iterator[Flask]:
    """The API with its web console (a signing key set)."""
    app = console_app(it_database_url)
    yield app
    close(app)
