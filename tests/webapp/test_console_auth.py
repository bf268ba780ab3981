"""The web console's sign-in, session cookie, CSRF, security headers and error pages, on the
integration database through Flask's test client."""

import uuid

import sqlalchemy as sa
from flask import Flask

from db.api_keys import revoke_key
from tests.webapp.consolekit import close, console_app, csrf_of, post_form, sign_in


def test_pages_send_a_visitor_who_is_not_signed_in_to_the_sign_in_form(console: Flask) -> None:
    client = console.test_client()
    response = client.get("/ui/tasks?type=echo")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/ui/sign-in?next=")
    form = client.get(response.headers["Location"])
    assert form.status_code == 200
    assert 'type="password" name="api_key"' in form.get_data(as_text=True)


def test_sign_in_sets_a_signed_httponly_lax_cookie_holding_the_key_id_not_the_key(
    console: Flask, made
) -> None:
    key = made.key("acme")
    client = console.test_client()
    page = client.get("/ui/sign-in")
    response = client.post(
        "/ui/sign-in",
        data={
            "api_key": key,
            "csrf_token": csrf_of(page.get_data(as_text=True)),
            "next": "/ui/failed",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/ui/failed"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("taskservice_console=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/ui" in cookie
    assert "Secure" not in cookie  # plain http here; https below
    assert key not in cookie
    assert client.get("/ui/tasks").status_code == 200


def test_the_cookie_is_secure_over_https(console: Flask, made) -> None:
    key = made.key("acme")
    client = console.test_client()
    page = client.get("/ui/sign-in", base_url="https://localhost")
    response = client.post(
        "/ui/sign-in",
        base_url="https://localhost",
        headers={"Referer": "https://localhost/ui/sign-in"},
        data={"api_key": key, "csrf_token": csrf_of(page.get_data(as_text=True))},
    )
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


def test_a_bad_key_is_refused_with_a_message(console: Flask) -> None:
    client = console.test_client()
    page = client.get("/ui/sign-in")
    response = client.post(
        "/ui/sign-in",
        data={"api_key": "tsk_" + "x" * 40, "csrf_token": csrf_of(page.get_data(as_text=True))},
    )
    assert response.status_code == 401
    assert "unknown or revoked" in response.get_data(as_text=True)
    assert client.get("/ui/tasks").status_code == 302


def test_a_revoked_key_is_signed_out_on_its_next_request(console: Flask, made, engine) -> None:
    key = made.key("acme")
    client = console.test_client()
    sign_in(client, key)
    assert client.get("/ui/tasks").status_code == 200
    with engine.begin() as conn:
        revoke_key(conn, uuid.UUID(made.key_ids[-1]))
    response = client.get("/ui/tasks")
    assert response.status_code == 302
    assert "/ui/sign-in" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "revoked" in page


def test_sign_out_needs_its_csrf_token_and_ends_the_session(console: Flask, made) -> None:
    client = console.test_client()
    sign_in(client, made.key("acme"))
    refused = client.post("/ui/sign-out")
    assert refused.status_code == 400
    assert "CSRF" in refused.get_data(as_text=True)
    assert refused.mimetype == "text/html"
    assert client.get("/ui/tasks").status_code == 200
    done = post_form(client, "/ui/tasks", "/ui/sign-out", {})
    assert done.status_code == 302
    assert client.get("/ui/tasks").status_code == 302


def test_state_changing_forms_refuse_a_missing_or_foreign_csrf_token(console: Flask, made) -> None:
    task_id = made.task("acme", status="FAILED", error="boom", error_type="RetryableError")
    client = console.test_client()
    sign_in(client, made.key("acme"))
    other = console.test_client()
    sign_in(other, made.key("acme"))
    foreign = csrf_of(other.get("/ui/tasks").get_data(as_text=True))
    for action in (f"/ui/tasks/{task_id}/retry", f"/ui/tasks/{task_id}/cancel", "/ui/redrives"):
        for data in ({}, {"csrf_token": foreign}, {"csrf_token": "nonsense"}):
            response = client.post(action, data=data)
            assert response.status_code == 400, (action, data)
            assert "CSRF" in response.get_data(as_text=True)
    # Nothing happened: the task is still FAILED and no re-drive exists.
    page = client.get(f"/ui/tasks/{task_id}").get_data(as_text=True)
    assert "FAILED" in page and "Re-drive " not in page


def test_sign_in_itself_needs_the_token_and_never_redirects_off_site(console: Flask, made) -> None:
    key = made.key("acme")
    client = console.test_client()
    assert client.post("/ui/sign-in", data={"api_key": key}).status_code == 400
    for target in ("https://evil.example/ui/", "//evil.example/ui/", "/api/tasks", "/ui\\x"):
        page = client.get("/ui/sign-in")
        response = client.post(
            "/ui/sign-in",
            data={
                "api_key": key,
                "next": target,
                "csrf_token": csrf_of(page.get_data(as_text=True)),
            },
        )
        assert response.headers["Location"] == "/ui/tasks", target
        post_form(client, "/ui/tasks", "/ui/sign-out", {})


def test_a_key_without_read_cannot_sign_in(console: Flask, made) -> None:
    client = console.test_client()
    page = client.get("/ui/sign-in")
    response = client.post(
        "/ui/sign-in",
        data={
            "api_key": made.key("acme", ("submit",)),
            "csrf_token": csrf_of(page.get_data(as_text=True)),
        },
    )
    assert response.status_code == 403
    assert "read" in response.get_data(as_text=True)


def test_every_page_carries_the_security_headers(console: Flask, made) -> None:
    client = console.test_client()
    sign_in(client, made.key("acme"))
    for path in ("/ui/sign-in", "/ui/tasks", "/ui/failed", "/ui/redrives", "/ui/nowhere"):
        response = client.get(path)
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Cache-Control"] == "no-store", path
    with client.get("/ui/static/console.css") as css:
        assert css.status_code == 200 and css.mimetype == "text/css"
        text = css.get_data(as_text=True)
    assert "http://" not in text and "https://" not in text


def test_errors_are_pages_never_tracebacks(console: Flask, made) -> None:
    client = console.test_client()
    sign_in(client, made.key("acme"))
    missing = client.get("/ui/nowhere")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    wrong_method = client.put("/ui/tasks")
    assert wrong_method.status_code == 405 and wrong_method.mimetype == "text/html"
    unknown = client.get(f"/ui/tasks/{uuid.uuid4()}")
    assert unknown.status_code == 404 and "no task with id" in unknown.get_data(as_text=True)
    bad_redrive = client.get("/ui/redrives/not-a-uuid")
    assert bad_redrive.status_code == 404
    assert "Traceback" not in missing.get_data(as_text=True)
    # The API's own errors stay problem documents.
    assert client.get("/api/nowhere").mimetype == "application/problem+json"


def test_the_api_never_sees_the_console_cookie(console: Flask, made) -> None:
    client = console.test_client()
    sign_in(client, made.key("acme"))
    # The browser would not send the cookie to /api/ (Path=/ui); even if it did, the API
    # reads only bearer keys.
    assert client.get("/api/tasks").status_code == 401


def test_without_a_signing_key_the_console_is_off_and_says_why(it_database_url: str) -> None:
    app = console_app(it_database_url, ui_secret_key=None)
    try:
        response = app.test_client().get("/ui/tasks")
        assert response.status_code == 503
        assert "WEBAPP_UI_SECRET_KEY" in response.get_data(as_text=True)
        assert response.mimetype == "text/html"
    finally:
        close(app)


def test_a_database_outage_is_a_503_page(it_database_url: str, made) -> None:
    key = made.key("acme")
    app = console_app(it_database_url)
    try:
        client = app.test_client()
        sign_in(client, key)
        engines = app.extensions["taskservice"].engines
        engines.primary.dispose()
        engines.primary = sa.create_engine(
            "postgresql+psycopg://tasks:tasks@127.0.0.1:1/tasks",
            connect_args={"connect_timeout": 1},
        )
        response = client.get("/ui/tasks")
        assert response.status_code == 503
        assert response.mimetype == "text/html"
        assert "unavailable" in response.get_data(as_text=True)
    finally:
        close(app)
