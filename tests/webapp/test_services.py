"""The API process's direct submit connections: shared by requests, never one per thread
(granian ends idle pool threads, and a connection per thread outlived its thread)."""

import threading
import time

import sqlalchemy as sa

from celery_tasks.catalog import CATALOG
from tests.webapp.apikit import make_settings
from webapp.services import Services


def _sessions(engine: sa.Engine, app_name: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :n"),
                {"n": app_name},
            ).scalar_one()
        )


def _settled_sessions(engine: sa.Engine, app_name: str, expected: int) -> int:
    """The session count once it reaches `expected`, or after 5 s: a backend leaves
    pg_stat_activity a moment after its client closed the connection."""
    deadline = time.monotonic() + 5
    while (count := _sessions(engine, app_name)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


def test_requests_at_once_each_get_a_connection_and_later_ones_reuse_them(it_database_url):
    svc = Services(make_settings(it_database_url), CATALOG)
    try:
        with svc.submit_connection() as first, svc.submit_connection() as second:
            assert first is not second
        with svc.submit_connection() as again:
            # The last one put back is on top: the most recently used session serves next.
            assert again is first
    finally:
        svc.close()


def test_threads_that_end_leave_no_session_behind(it_database_url, engine):
    app_name = "api-pool-test"
    svc = Services(make_settings(it_database_url), CATALOG)

    def submit_once() -> None:
        with svc.submit_connection() as conn:
            conn.app_name = app_name
            assert conn.fetch_one("SELECT 1", {}) == (1,)

    try:
        # Ten short-lived threads one after another, as a server replacing idle pool threads.
        for _ in range(10):
            thread = threading.Thread(target=submit_once)
            thread.start()
            thread.join()
        assert _sessions(engine, app_name) == 1
    finally:
        svc.close()
    assert _settled_sessions(engine, app_name, 0) == 0


def test_a_connection_in_use_at_close_is_closed_when_put_back(it_database_url, engine):
    app_name = "api-pool-close-test"
    svc = Services(make_settings(it_database_url), CATALOG)
    with svc.submit_connection() as conn:
        conn.app_name = app_name
        conn.fetch_one("SELECT 1", {})
        svc.close()
        assert _sessions(engine, app_name) == 1
    assert _settled_sessions(engine, app_name, 0) == 0
