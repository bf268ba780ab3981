"""Task search on the real PostgreSQL: filters, keyset pages, bound parameters."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from db.ids import created_at_of, uuid7
from db.models import tasks_table
from db.search import Cursor, TaskFilter, decode_cursor, encode_cursor, search_tasks


@pytest.fixture(autouse=True)
def _forget_tenants(engine) -> Iterator[None]:
    """Delete the rows of every tenant a test created (their PENDING rows would otherwise look
    stuck to the reconciler tests that share this database)."""
    yield
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM tasks WHERE tenant LIKE 'search-it-%'"))


def _tenant() -> str:
    return f"search-it-{uuid.uuid4().hex}"


def _insert(engine, tenant: str, count: int, start: datetime, **overrides) -> list[uuid.UUID]:
    rows = []
    for i in range(count):
        task_id = uuid7(start + timedelta(milliseconds=10 * i))
        row = {
            "id": task_id,
            "created_at": created_at_of(task_id),
            "type": "echo",
            "payload": {"n": i, "tag": "even" if i % 2 == 0 else "odd"},
            "max_attempts": 4,
            "status": "COMPLETED",
            "tenant": tenant,
        }
        row.update(overrides)
        rows.append(row)
    with engine.begin() as conn:
        conn.execute(sa.insert(tasks_table), rows)
    return [r["id"] for r in rows]


def _all_pages(engine, where: TaskFilter, limit: int) -> list[list[uuid.UUID]]:
    pages, after = [], None
    while True:
        with engine.connect() as conn:
            page = search_tasks(conn, where, limit, after)
        pages.append([r["id"] for r in page.rows])
        if page.next_cursor is None:
            return pages
        after = page.next_cursor


def test_filters_combine_statuses_type_time_payload_and_tenant(engine):
    tenant = _tenant()
    start = datetime.now(UTC) - timedelta(minutes=5)
    ids = _insert(engine, tenant, 6, start)
    pending = _insert(engine, tenant, 2, start + timedelta(seconds=1), status="PENDING")
    _insert(engine, _tenant(), 3, start)  # another tenant's tasks
    with engine.connect() as conn:
        everything = search_tasks(conn, TaskFilter(tenant=tenant), 100)
        evens = search_tasks(conn, TaskFilter(tenant=tenant, payload={"tag": "even"}), 100)
        active = search_tasks(conn, TaskFilter(tenant=tenant, statuses=("PENDING",)), 100)
        window = search_tasks(
            conn,
            TaskFilter(
                tenant=tenant,
                created_after=created_at_of(ids[1]),
                created_before=created_at_of(ids[4]),
                type="echo",
            ),
            100,
        )
        other_type = search_tasks(conn, TaskFilter(tenant=tenant, type="sleep"), 100)
    assert len(everything.rows) == 8
    assert {r["payload"]["tag"] for r in evens.rows} == {"even"}
    assert len(evens.rows) == 4  # n = 0, 2, 4 of the COMPLETED and n = 0 of the PENDING
    assert [r["id"] for r in active.rows] == list(reversed(pending))
    # created_after is inclusive, created_before exclusive; newest first.
    assert [r["id"] for r in window.rows] == [ids[3], ids[2], ids[1]]
    assert other_type.rows == []


def test_keyset_pages_cover_every_row_once_despite_concurrent_inserts(engine):
    tenant = _tenant()
    ids = _insert(engine, tenant, 25, datetime.now(UTC) - timedelta(minutes=1))
    where = TaskFilter(tenant=tenant)
    with engine.connect() as conn:
        first = search_tasks(conn, where, 10)
    # Tasks arriving between page requests are newer than the cursor: they never shift pages.
    _insert(engine, tenant, 5, datetime.now(UTC))
    seen = [r["id"] for r in first.rows]
    after = first.next_cursor
    while after is not None:
        with engine.connect() as conn:
            page = search_tasks(conn, where, 10, after)
        seen.extend(r["id"] for r in page.rows)
        after = page.next_cursor
    assert seen == list(reversed(ids))


def test_last_page_has_no_cursor_even_when_full(engine):
    tenant = _tenant()
    _insert(engine, tenant, 20, datetime.now(UTC) - timedelta(minutes=2))
    pages = _all_pages(engine, TaskFilter(tenant=tenant), 10)
    assert [len(p) for p in pages] == [10, 10]


def test_cursor_round_trips_and_rejects_foreign_tokens():
    cursor = Cursor(datetime(2026, 12, 1, 2, 3, 4, 567000, tzinfo=UTC), uuid7())
    assert decode_cursor(encode_cursor(cursor)) == cursor
    for token in ["", "abc", "not base64!!", encode_cursor(cursor)[:-4] + "====", "' OR 1=1 --"]:
        assert decode_cursor(token) is None


INJECTIONS = [
    "' OR '1'='1",
    "'; DROP TABLE tasks; --",
    '"); DELETE FROM tasks; --',
    "\\'; SELECT pg_sleep(5); --",
    "%s %(x)s {0} $1",
]


def test_injection_strings_in_every_filter_are_plain_values(engine):
    tenant = _tenant()
    _insert(engine, tenant, 3, datetime.now(UTC) - timedelta(minutes=3))
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT count(*) FROM tasks")).scalar_one()
        for text in INJECTIONS:
            wheres = [
                TaskFilter(tenant=tenant, statuses=(text,)),
                TaskFilter(tenant=tenant, type=text),
                TaskFilter(tenant=tenant, payload={text: text}),
                TaskFilter(tenant=text),
            ]
            for where in wheres:
                assert search_tasks(conn, where, 10).rows == [], (text, where)
        after = conn.execute(sa.text("SELECT count(*) FROM tasks")).scalar_one()
    assert after == before
