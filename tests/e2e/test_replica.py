"""Read routing on the live stack: searches are served by the streaming replica (5433), a GET
falls back to the primary for a task the replica has not replayed yet, and reads keep working
on the primary while the replica is down. Run under the stack lock (it stops the replica)."""

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import requests

from tests.e2e.conftest import API, REPO, auth_headers, get, stack, submit

# The replica's superuser connection over its unix socket (local trust authentication):
# pausing replay needs a superuser, and the service's own role is not one.
REPLICA_ADMIN = {
    "host": str(REPO / ".stack" / "pg" / "sock"),
    "port": 5433,
    "user": "postgres",
    "dbname": "postgres",
    "autocommit": True,
}


def _search(session: requests.Session, marker: str) -> list[dict[str, Any]]:
    response = session.get(
        f"{API}/api/tasks",
        params={"payload": json.dumps({"marker": marker})},
        headers=auth_headers(),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


@pytest.fixture
def paused_replica() -> Iterator[psycopg.Connection]:
    """The replica with WAL replay paused; replay resumes afterwards whatever happens."""
    with psycopg.connect(**REPLICA_ADMIN) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        conn.execute("SELECT pg_wal_replay_pause()")
        try:
            deadline = time.monotonic() + 10
            while conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone() != ("paused",):
                assert time.monotonic() < deadline, "replay did not pause"
                time.sleep(0.05)
            yield conn
        finally:
            conn.execute("SELECT pg_wal_replay_resume()")


def test_search_reads_the_replica_and_get_falls_back_to_primary(api, http, paused_replica):
    marker = uuid.uuid4().hex
    task = submit(http, {"type": "echo", "payload": {"marker": marker}})
    # The replica has not replayed the insert: the search (served by it) does not see the task,
    assert _search(http, marker) == []
    # but reading it by id right after the 202 still works, through the primary.
    assert get(http, task["id"])["id"] == task["id"]
    paused_replica.execute("SELECT pg_wal_replay_resume()")
    deadline = time.monotonic() + 15
    while not (found := _search(http, marker)):
        assert time.monotonic() < deadline, "the replica never replayed the task"
        time.sleep(0.2)
    assert [t["id"] for t in found] == [task["id"]]


def test_reads_keep_working_on_the_primary_while_the_replica_is_down(api, http):
    marker = uuid.uuid4().hex
    old = submit(http, {"type": "echo", "payload": {"marker": marker, "n": 1}})
    stack("stop", "replica")
    try:
        new = submit(http, {"type": "echo", "payload": {"marker": marker, "n": 2}})
        for _ in range(3):  # the first read finds the replica gone, later ones skip it
            assert get(http, old["id"])["id"] == old["id"]
            assert [t["id"] for t in _search(http, marker)] == [new["id"], old["id"]]
    finally:
        stack("start", "replica")
    with psycopg.connect(**REPLICA_ADMIN) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
