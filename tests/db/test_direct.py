"""The worker's direct connection (db/direct.py): the claim and the completion on the driver,
planned once, and a connection that breaks is replaced, against the real PostgreSQL."""

import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from db.direct import DirectConnection
from db.errors import DatabaseUnavailableError
from db.execution import claim_task
from db.ids import uuid7
from db.outcomes import COMPLETE_SQL, complete_task
from db.tasks_repo import (
    ONE_SCHEDULED_TASK_SQL,
    ONE_TASK_SQL,
    TASK_COLUMNS,
    NewTask,
    insert_tasks,
)

OWNER = "test-host/direct:1"


@pytest.fixture
def direct(it_database_url: str) -> Iterator[DirectConnection]:
    conn = DirectConnection(it_database_url, app_name="tests-direct")
    yield conn
    conn.close()


def _new_task(engine: sa.Engine) -> uuid.UUID:
    with engine.begin() as conn:
        (task,) = insert_tasks(conn, [NewTask(type="echo", payload={"n": 1}, max_attempts=3)])
    return task.id


def test_claim_and_completion_on_the_direct_connection_record_the_attempt(
    engine, direct, clean_outbox
):
    task_id = _new_task(engine)
    claim = claim_task(direct, task_id, 30, OWNER)
    assert claim is not None and claim.attempt == 1 and claim.payload == {"n": 1}
    # A second delivery finds the attempt running: the claim is a compare-and-set.
    assert claim_task(direct, task_id, 30, OWNER) is None
    assert complete_task(direct, claim, {"ok": True}, {"effect": 1})
    # Fenced: the same attempt cannot complete twice.
    assert not complete_task(direct, claim, {"ok": False}, {"effect": 2})
    with engine.connect() as conn:
        status, result = conn.execute(
            sa.text("SELECT status, result FROM tasks WHERE id = :i"), {"i": task_id}
        ).one()
        effects = conn.execute(
            sa.text("SELECT effect FROM task_effects WHERE task_id = :i"), {"i": task_id}
        ).all()
        outcome = conn.execute(
            sa.text("SELECT outcome FROM task_attempts WHERE task_id = :i"), {"i": task_id}
        ).scalar_one()
    assert (status, result) == ("COMPLETED", {"ok": True})
    assert [e.effect for e in effects] == [{"effect": 1}]
    assert outcome == "completed"


def test_the_direct_connection_plans_the_claim_once(direct):
    for _ in range(10):
        # Ids no row has: nothing changes, but the statement runs.
        assert claim_task(direct, uuid7(), 20.0, OWNER) is None
    row = direct.fetch_one(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
        "WHERE statement LIKE %(text)s",
        {"text": "%WITH claimed AS%"},
    )
    assert row is not None
    generic, custom = row
    # Left to itself, the server plans a statement on the partitioned tables at every run.
    assert generic >= 10 and custom == 0


def _index_names(plan: Any) -> set[str]:
    if isinstance(plan, dict):
        found = {plan["Index Name"]} if "Index Name" in plan else set()
        return found.union(*(_index_names(v) for v in plan.values()))
    if isinstance(plan, list):
        return set().union(*(_index_names(v) for v in plan))
    return set()


def _numbered(query: str) -> tuple[str, list[str]]:
    """The driver's %(name)s placeholders as PREPARE's $n, and the names in $n order."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    return re.sub(r"%\((\w+)\)s", number, query), names


def test_the_completions_generic_plan_finds_the_row_by_its_key(engine, direct, clean_outbox):
    task_id = _new_task(engine)
    claim = claim_task(direct, task_id, 30, OWNER)
    assert claim is not None
    numbered, names = _numbered(COMPLETE_SQL)
    values = {
        "result": '{"ok": true}',
        "task_id": str(task_id),
        "created_at": claim.created_at.isoformat(),
        "token": str(claim.lease_token),
        "attempt": "1",
        "effect": "{}",
    }
    args = ", ".join(f"'{values[n]}'" for n in names)
    with engine.connect() as conn:
        conn.execute(sa.text("SET plan_cache_mode = force_generic_plan"))
        # This database's month holds a few hundred rows at most, and once analysed a sequential
        # scan is the cheaper plan: without it the planner must choose between the indexes.
        conn.execute(sa.text("SET enable_seqscan = off"))
        conn.exec_driver_sql(f"PREPARE complete_probe AS {numbered}")
        plan = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) EXECUTE complete_probe({args})")
        used = _index_names(plan.scalar_one())
        conn.rollback()
    task_indexes = {n for n in used if n.startswith("tasks_")}
    assert task_indexes, used
    # The row by its key, never a walk over the partial index of active statuses.
    assert not any("status" in n for n in task_indexes), task_indexes


def test_a_broken_connection_raises_unavailable_once_then_reconnects(engine, direct):
    first = direct.fetch_one("SELECT pg_backend_pid()", {})
    assert first is not None
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": first[0]})
    with pytest.raises(DatabaseUnavailableError):
        direct.fetch_one("SELECT 1", {})
    second = direct.fetch_one("SELECT pg_backend_pid()", {})
    assert second is not None and second[0] != first[0]


def test_an_idle_connection_is_tested_first_so_a_lost_one_costs_no_failure(it_database_url, engine):
    direct = DirectConnection(it_database_url, app_name="tests-direct-ping", idle_ping_s=0.0)
    try:
        first = direct.fetch_one("SELECT pg_backend_pid()", {})
        assert first is not None
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": first[0]})
        # A PostgreSQL restart looks the same to the connection: its next use just works.
        second = direct.fetch_one("SELECT pg_backend_pid()", {})
        assert second is not None and second[0] != first[0]
    finally:
        direct.close()


def test_the_single_submit_statement_names_every_task_column():
    inserted = re.search(r"INSERT INTO tasks \(([^)]*)\)", ONE_TASK_SQL)
    assert inserted is not None
    assert tuple(c.strip() for c in inserted[1].split(",")) == TASK_COLUMNS
    assert ONE_SCHEDULED_TASK_SQL in ONE_TASK_SQL


def test_a_statement_that_fails_on_its_data_keeps_the_connection(direct):
    first = direct.fetch_one("SELECT pg_backend_pid()", {})
    assert first is not None
    with pytest.raises(psycopg.errors.DivisionByZero):
        direct.fetch_one("SELECT 1 / %(zero)s", {"zero": 0})
    # The error is the statement's, not the connection's: the same session answers next.
    assert direct.fetch_one("SELECT pg_backend_pid()", {}) == first


SYNCHRONOUS_COMMIT = "SELECT current_setting('synchronous_commit')"


def _synchronous_commit(conn: sa.Connection) -> str:
    return str(conn.execute(sa.text(SYNCHRONOUS_COMMIT)).scalar())


def test_the_claim_commits_asynchronously_and_nothing_after_it_does(engine, direct, clean_outbox):
    # On the direct connection: the claim's own transaction set it off, and it ended with it,
    # so the completion that follows on the same session commits synchronously.
    claim = claim_task(direct, _new_task(engine), 30, OWNER)
    assert claim is not None
    assert direct.fetch_one(SYNCHRONOUS_COMMIT, {}) == ("on",)
    assert complete_task(direct, claim, {"ok": True}, {"effect": 1})
    # Inside a transaction (a takeover, celery_tasks/settle.py): off until that transaction ends.
    task_id = _new_task(engine)
    with engine.connect() as conn:
        with conn.begin():
            assert _synchronous_commit(conn) == "on"
            assert claim_task(conn, task_id, 30, OWNER) is not None
            assert _synchronous_commit(conn) == "off"
        assert _synchronous_commit(conn) == "on"
    # A claim that matched no row changes nothing, the setting included.
    assert claim_task(direct, task_id, 30, OWNER) is None
    assert direct.fetch_one(SYNCHRONOUS_COMMIT, {}) == ("on",)
