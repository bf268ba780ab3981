"""The queue-health page against the real PostgreSQL, Kafka and Prometheus of the stack, and
with each source unreachable: it still answers within a second and says what is missing."""

import time

from flask import Flask

from tests.webapp.consolekit import close, console_app, sign_in


def _admin(app: Flask, made):
    client = app.test_client()
    sign_in(client, made.key("acme", ("read", "admin")))
    return client


def test_the_page_shows_every_figure_and_chart(console: Flask, made) -> None:
    client = _admin(console, made)
    started = time.monotonic()
    response = client.get("/ui/health")
    took = time.monotonic() - started
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert took < 1.5, took
    for anchor in ('id="oldest-pending"', 'id="lag"', 'id="dlt-depth"', 'id="workers"'):
        assert anchor in html, anchor
    for chart in ("completed", "failed", "lag", "dlt_depth", "oldest_pending_s", "workers"):
        assert f'id="chart-{chart}"' in html
    # The stack's Prometheus has scraped for a while: at least one chart is drawn.
    assert "<svg" in html and ("<polyline" in html or 'class="bar"' in html)


def test_sources_that_are_down_are_shown_as_unavailable_within_a_second(
    it_database_url: str, made
) -> None:
    key = made.key("acme", ("read", "admin"))
    app = console_app(
        it_database_url,
        ui_prometheus_url="http://127.0.0.1:1",
        kafka_bootstrap_servers="127.0.0.1:1",
    )
    try:
        client = app.test_client()
        sign_in(client, key)
        started = time.monotonic()
        response = client.get("/ui/health")
        took = time.monotonic() - started
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert took < 1.2, took
        assert 'id="oldest-pending"' in html  # PostgreSQL still answers
        assert 'id="lag"' not in html and 'id="workers"' not in html
        assert html.count("unavailable") >= 8
    finally:
        close(app)


def test_the_page_needs_an_admin_key(console: Flask, made) -> None:
    client = console.test_client()
    sign_in(client, made.key("acme"))
    response = client.get("/ui/health")
    assert response.status_code == 403
    assert "admin" in response.get_data(as_text=True)
