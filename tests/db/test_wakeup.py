"""RelayWakeup on the real PostgreSQL: a ring becomes a NOTIFY, rings coalesce, none is owed
for long, and a database that is gone costs the caller nothing."""

import logging
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from db.direct import libpq_conninfo
from db.topics import OUTBOX_CHANNEL
from db.wakeup import RelayWakeup


@pytest.fixture
def listener(it_database_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(libpq_conninfo(it_database_url), autocommit=True) as conn:
        conn.execute(f"LISTEN {OUTBOX_CHANNEL}")
        yield conn


def _notes(conn: psycopg.Connection[tuple[object, ...]], timeout_s: float) -> int:
    return sum(1 for _ in conn.notifies(timeout=timeout_s))


def _first(conn: psycopg.Connection[tuple[object, ...]], timeout_s: float) -> bool:
    return any(True for _ in conn.notifies(timeout=timeout_s, stop_after=1))


def _sent(wakeup: RelayWakeup, count: int) -> bool:
    # `sent` counts after the statement returned, which can be after the listener heard it.
    deadline = time.monotonic() + 2.0
    while wakeup.sent < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return wakeup.sent == count


def test_a_ring_is_one_notify_on_the_outbox_channel(it_database_url, listener):
    wakeup = RelayWakeup(it_database_url, app_name="tests-wakeup")
    try:
        wakeup.ring()
        assert _first(listener, 5.0)
        assert _notes(listener, 0.3) == 0
        assert _sent(wakeup, 1)
    finally:
        wakeup.close()


def test_rings_that_arrive_while_it_sends_are_coalesced(it_database_url, listener):
    wakeup = RelayWakeup(it_database_url, app_name="tests-wakeup", spacing_s=0.2)
    try:
        for _ in range(500):
            wakeup.ring()
        # The first NOTIFY, then one more for the rings that came meanwhile (at most a few,
        # one per 0.2 s), never one per ring.
        received = _notes(listener, 1.5)
        assert 1 <= received <= 3
        assert _sent(wakeup, received)
    finally:
        wakeup.close()


def test_a_ring_after_a_notify_was_sent_gets_a_notify_of_its_own(it_database_url, listener):
    # The ordering promise: a commit that rings after the last NOTIFY went out is not left to
    # the relay's sweep.
    wakeup = RelayWakeup(it_database_url, app_name="tests-wakeup", spacing_s=0.05)
    try:
        wakeup.ring()
        assert _first(listener, 5.0)
        time.sleep(0.1)
        wakeup.ring()
        assert _first(listener, 5.0)
        assert _sent(wakeup, 2)
    finally:
        wakeup.close()


def test_a_notify_lost_with_its_connection_is_sent_on_a_new_one(it_database_url, listener):
    name = f"tests-wakeup-{uuid.uuid4().hex[:8]}"
    wakeup = RelayWakeup(it_database_url, app_name=name, spacing_s=0.01, retry_s=0.1)
    try:
        wakeup.ring()
        assert _first(listener, 5.0)
        listener.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (name,),
        )
        wakeup.ring()
        assert _first(listener, 5.0)
        assert _sent(wakeup, 2)
    finally:
        wakeup.close()


def test_an_unreachable_database_costs_the_caller_nothing(caplog):
    wakeup = RelayWakeup(
        "postgresql+psycopg://tasks:tasks@127.0.0.1:1/tasks",
        app_name="tests-wakeup",
        retry_s=0.05,
        connect_timeout_s=1,
    )
    caplog.set_level(logging.WARNING, logger="db.wakeup")
    started = time.monotonic()
    for _ in range(100):
        wakeup.ring()
    assert time.monotonic() - started < 0.5
    time.sleep(0.5)
    wakeup.close()
    assert wakeup.sent == 0
    warnings = [r for r in caplog.records if "cannot wake the relay" in r.getMessage()]
    # Several attempts failed in half a second, and the log said so once.
    assert len(warnings) == 1
    assert wakeup._thread is not None and not wakeup._thread.is_alive()
