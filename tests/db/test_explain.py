"""The planner uses the indexes the schema promises, on a partition with enough rows that an
index beats a sequential scan. Data lives in a transaction that is rolled back."""

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

import psycopg.sql
import pytest
import sqlalchemy as sa

from db.execution import Claim, claim_task, renew_lease
from db.ids import created_at_of, uuid7
from db.models import ACTIVE_STATUSES, TaskStatus
from db.outcomes import complete_task, fail_task, schedule_retry
from db.partitions import create_partition, partition_for
from db.queue_health import oldest_pending_age_s, tasks_by_status
from db.redrive import redrive_task
from db.search import TaskFilter, search_query
from db.tasks_repo import NewTask, get_task, insert_tasks

MONTH = partition_for(date(2017, 3, 1))
ROWS = 40_000


@contextmanager
def _month_of_rows(engine: sa.Engine, payload_sql: str, status_sql: str) -> Iterator[sa.Connection]:
    """A connection whose open transaction holds ROWS tasks in MONTH, analysed; row i has the
    payload and status the SQL expressions of `i` give. Rolled back at the end."""
    with engine.connect() as conn, conn.begin() as tx:
        create_partition(conn, MONTH)
        # Ids are UUIDv7 built from created_at, like the API's (first 48 bits = Unix ms).
        conn.execute(
            sa.text(
                f"""
                INSERT INTO {MONTH.name} (id, created_at, updated_at, type, payload, max_attempts,
                                          status)
                SELECT (lpad(to_hex((extract(epoch FROM ts) * 1000)::bigint), 12, '0')
                        || '7' || substr(md5(i::text), 1, 3) || '8'
                        || substr(md5(i::text), 4, 15))::uuid,
                       ts, ts, 'echo', {payload_sql}, 4, {status_sql}
                FROM generate_series(1, {ROWS}) AS i,
                     LATERAL (SELECT timestamptz '2017-03-01 00:00+00'
                                     + i * interval '60 seconds') AS t(ts)
                """
            )
        )
        conn.execute(sa.text(f"ANALYZE {MONTH.name}"))
        yield conn
        tx.rollback()


@pytest.fixture
def loaded(engine: sa.Engine) -> Iterator[sa.Connection]:
    """ROWS tasks in one analysed partition: 1 in 200 active, payloads
    {"customer": "c-<0..999>", "n": i}."""
    with _month_of_rows(
        engine,
        "jsonb_build_object('customer', 'c-' || (i % 1000), 'n', i)",
        "CASE WHEN i % 200 = 0 THEN 'PENDING' ELSE 'COMPLETED' END",
    ) as conn:
        yield conn


def _children_of(conn: sa.Connection, parent_index: str) -> set[str]:
    rows = conn.execute(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:parent AS regclass)"
        ),
        {"parent": parent_index},
    )
    return {r[0] for r in rows}


def _explain(conn: sa.Connection, query: sa.Select) -> str:
    """EXPLAIN exactly what SQLAlchemy and the driver send for `query` (statement and
    processed parameters), by capturing it while the query runs."""
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    sa.event.listen(conn, "before_cursor_execute", capture)
    try:
        conn.execute(query).all()
    finally:
        sa.event.remove(conn, "before_cursor_execute", capture)
    statement, parameters = captured[-1]
    return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))


def _explain_generic(conn: sa.Connection, run: Callable[[sa.Connection], object]) -> str:
    """EXPLAIN the plan PostgreSQL keeps for the last statement `run` sends once psycopg has
    prepared it: the generic plan, made without the values of its parameters."""
    captured: list[tuple[str, dict[str, object]]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    sa.event.listen(conn, "before_cursor_execute", capture)
    try:
        run(conn)
    finally:
        sa.event.remove(conn, "before_cursor_execute", capture)
    statement, parameters = captured[-1]
    names = list(parameters)
    numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m[1]) + 1}", statement)
    driver = conn.connection.driver_connection
    values = ", ".join(psycopg.sql.Literal(parameters[n]).as_string(driver) for n in names)
    conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    conn.exec_driver_sql(f"PREPARE generic_probe AS {numbered}")
    try:
        execute = f"EXECUTE generic_probe({values})" if names else "EXECUTE generic_probe"
        return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + execute))
    finally:
        conn.exec_driver_sql("DEALLOCATE generic_probe")


def _index_used(plan: str, conn: sa.Connection, parent_index: str) -> bool:
    """Whether the plan scans MONTH through its copy of the partitioned index `parent_index`."""
    children = _children_of(conn, parent_index)
    # "Index Scan using <index> on <table>" or "Bitmap Index Scan on <index>".
    return any(
        "Index" in line and name in re.findall(r"[\w]+", line)
        for line in plan.splitlines()
        for name in children
    )


def test_active_task_query_uses_the_partial_index(loaded):
    t = sa.table("tasks", sa.column("id"), sa.column("status"), sa.column("updated_at"))
    query = (
        sa.select(t.c.id)
        .where(t.c.status.in_([s.value for s in ACTIVE_STATUSES]))
        .order_by(t.c.updated_at)
        .limit(100)
    )
    plan = _explain(loaded, query)
    assert _index_used(plan, loaded, "tasks_active_idx"), plan
    assert f"Seq Scan on {MONTH.name}" not in plan, plan


def test_queue_health_gauges_use_the_partial_index_even_when_prepared(loaded):
    # The relay refreshes these every few seconds on pooled connections, where psycopg
    # prepares them: a bound status made the oldest-pending query walk the created_at index
    # through the whole history.
    for gauge in (oldest_pending_age_s, tasks_by_status):
        plan = _explain_generic(loaded, gauge)
        assert _index_used(plan, loaded, "tasks_active_idx"), plan
        assert not _index_used(plan, loaded, "tasks_created_idx"), plan
        assert f"Seq Scan on {MONTH.name}" not in plan, plan


@pytest.fixture
def settled(engine: sa.Engine) -> Iterator[sa.Connection]:
    """ROWS finished tasks in one analysed partition and no active one: the statistics of a
    table that was idle when last analysed."""
    with _month_of_rows(
        engine,
        "jsonb_build_object('n', i)",
        "CASE WHEN i % 2 = 0 THEN 'COMPLETED' ELSE 'CANCELLED' END",
    ) as conn:
        yield conn


def test_writes_by_key_look_their_row_up_by_key_whatever_the_statistics(settled):
    # An id of the analysed month: its generic plans are what the worker keeps.
    task_id = uuid7(datetime(2017, 3, 10, tzinfo=UTC))
    claim = Claim(task_id, created_at_of(task_id), "echo", {}, 1, 4, uuid.uuid4(), None, 0)
    writes: dict[str, Callable[[sa.Connection], object]] = {
        "claim": lambda c: claim_task(c, task_id, 30, "tests"),
        "complete": lambda c: complete_task(c, claim, {"ok": True}, {}),
        "renew": lambda c: renew_lease(c, task_id, claim.lease_token, 30),
        "retry": lambda c: schedule_retry(c, claim, "e", "E", 1.0),
        "fail": lambda c: fail_task(c, task_id, claim.lease_token, "e", "E"),
        "redrive": lambda c: redrive_task(c, task_id),
    }
    for name, write in writes.items():
        plan = _explain_generic(settled, write)
        # The partial indexes (active statuses, FAILED rows) are empty in this month, so a
        # plan that reads one from end to end costs nothing here and a backlog's length there.
        for partial in ("tasks_active_idx", "tasks_failed_idx"):
            assert not _index_used(plan, settled, partial), (name, plan)
        assert f"Seq Scan on {MONTH.name}" not in plan, (name, plan)


def test_payload_containment_search_uses_the_gin_index(loaded):
    # One order among 40,000, as a client looks one up. A value shared by many rows (a
    # customer's 40) made the plan a coin toss: whether one of ANALYZE's ~100 sampled histogram
    # entries held it decided between a 1 % and a near-zero estimate, and at 1 % walking the
    # created_at index is cheaper. Bounded to the loaded month so the shared test database's
    # other months, with a few rows each, cannot tip the plan either.
    month = TaskFilter(
        payload={"n": 20_001},
        created_after=datetime(2017, 3, 1, tzinfo=UTC),
        created_before=datetime(2017, 4, 1, tzinfo=UTC),
    )
    query = search_query(month, limit=50)
    plan = _explain(loaded, query)
    assert _index_used(plan, loaded, "tasks_payload_gin"), plan
    assert f"Seq Scan on {MONTH.name}" not in plan, plan


def test_search_page_walks_the_created_index_with_a_keyset(loaded):
    query = search_query(TaskFilter(statuses=(TaskStatus.COMPLETED.value,)), limit=50)
    plan = _explain(loaded, query)
    assert _index_used(plan, loaded, "tasks_created_idx"), plan


def test_lookup_by_id_touches_exactly_one_partition(engine):
    with engine.connect() as conn, conn.begin() as tx:
        (task,) = insert_tasks(conn, [NewTask(type="echo", payload={"x": 1}, max_attempts=1)])
        captured: list[tuple[str, object]] = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            captured.append((statement, parameters))

        sa.event.listen(conn, "before_cursor_execute", capture)
        try:
            assert get_task(conn, task.id) is not None
        finally:
            sa.event.remove(conn, "before_cursor_execute", capture)
        statement, parameters = captured[-1]
        plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
        partitions = set(
            conn.execute(
                sa.text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = 'tasks'::regclass"
                )
            ).scalars()
        )
        tx.rollback()
    touched = {name for name in partitions if f" on {name}" in plan}
    assert touched == {partition_for(task.created_at.date()).name}, plan
