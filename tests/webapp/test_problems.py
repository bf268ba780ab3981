"""Errors of dependencies become problem responses, never a bare 500."""

from webapp.app import close_app, create_app
from webapp.settings import WebSettings


def test_submit_while_the_database_is_unreachable_is_a_503_problem():
    # Nothing listens on port 1: a real connection failure, as when PostgreSQL is down.
    settings = WebSettings(
        database_url="postgresql+psycopg://tasks:tasks@127.0.0.1:1/tasks", auth_enabled=False
    )
    app = create_app(settings)
    try:
        response = app.test_client().post("/api/tasks", json={"type": "echo", "payload": {}})
    finally:
        close_app(app)
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    # At least our 1 s; Flask-Limiter raises it to its window's reset when a limit applies.
    assert int(response.headers["Retry-After"]) >= 1
    assert "database" in response.json["detail"]
