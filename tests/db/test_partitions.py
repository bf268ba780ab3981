"""Partition maintenance on the real PostgreSQL (the integration-test database): ensure creates
months ahead and rescues rows from the default partition; prune drops whole old months and
refuses months that still hold active tasks. Each test works in years nothing else uses."""

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from db.ids import created_at_of, uuid7
from db.models import tasks_table
from db.partitions import (
    create_partition,
    default_partition_rows,
    ensure_partitions,
    list_partitions,
    partition_for,
)
from db.retention import expired_partitions, prune_partitions
from taskctl.cli import main


def _task(created_at: datetime, status: str = "COMPLETED") -> dict:
    task_id = uuid7(created_at)
    return {
        "id": task_id,
        "created_at": created_at_of(task_id),
        "type": "echo",
        "payload": {"n": 1},
        "max_attempts": 4,
        "status": status,
    }


def _partition_of(conn: sa.Connection, task_id) -> str:
    return conn.execute(
        sa.text("SELECT tableoid::regclass::text FROM tasks WHERE id = :id"), {"id": task_id}
    ).scalar_one()


@pytest.fixture
def cleanup(engine: sa.Engine) -> Iterator[list[str]]:
    """Tables named here are dropped after the test, and the default partition is emptied."""
    names: list[str] = []
    yield names
    with engine.begin() as conn:
        for name in names:
            conn.execute(sa.text(f'DROP TABLE IF EXISTS "{name}"'))
        conn.execute(sa.text("DELETE FROM tasks_default"))


def test_ensure_creates_months_ahead_and_is_idempotent(engine, cleanup):
    today = date(2031, 11, 20)
    cleanup.extend(["tasks_p2031_11", "tasks_p2031_12", "tasks_p2032_01"])
    with engine.begin() as conn:
        first = ensure_partitions(conn, ahead=2, today=today)
    with engine.begin() as conn:
        second = ensure_partitions(conn, ahead=2, today=today)
        names = {p.name for p in list_partitions(conn)}
    assert first == ["tasks_p2031_11", "tasks_p2031_12", "tasks_p2032_01"]
    assert second == []
    assert set(first) <= names


def test_ensure_moves_rows_from_default_partition_into_the_new_month(engine, cleanup):
    cleanup.append("tasks_p2033_05")
    row = _task(datetime(2033, 5, 17, 8, 30, tzinfo=UTC))
    with engine.begin() as conn:
        conn.execute(sa.insert(tasks_table), [row])
        assert _partition_of(conn, row["id"]) == "tasks_default"
        assert default_partition_rows(conn) == 1
    with engine.begin() as conn:
        created = ensure_partitions(conn, ahead=0, today=date(2033, 5, 1))
    with engine.connect() as conn:
        assert created == ["tasks_p2033_05"]
        assert _partition_of(conn, row["id"]) == "tasks_p2033_05"
        assert default_partition_rows(conn) == 0


def test_expired_partitions_keeps_the_retention_window():
    parts = [partition_for(date(2025, m, 1)) for m in range(1, 13)]
    expired = expired_partitions(parts, retention_months=3, today=date(2025, 12, 9))
    # Kept: September, October, November (three full months) and December (current).
    assert [p.name for p in expired][-1] == "tasks_p2025_08"
    assert len(expired) == 8


def test_prune_drops_old_months_without_touching_recent_ones(engine, cleanup):
    months = [date(2019, m, 1) for m in (1, 2, 3, 4)]
    cleanup.extend(partition_for(m).name for m in months)
    with engine.begin() as conn:
        for month in months:
            create_partition(conn, partition_for(month))
            conn.execute(
                sa.insert(tasks_table), [_task(datetime(2019, month.month, 10, tzinfo=UTC))]
            )
    report = prune_partitions(engine, retention_months=1, today=date(2019, 4, 20))
    again = prune_partitions(engine, retention_months=1, today=date(2019, 4, 20))
    with engine.connect() as conn:
        left = {p.name for p in list_partitions(conn)}
        kept_rows = conn.execute(
            sa.text(
                "SELECT count(*) FROM tasks "
                "WHERE created_at >= '2019-01-01Z' AND created_at < '2019-05-01Z'"
            )
        ).scalar_one()
    assert report.dropped == ["tasks_p2019_01", "tasks_p2019_02"]
    assert report.refused == []
    assert again.dropped == []
    assert "tasks_p2019_01" not in left and "tasks_p2019_02" not in left
    assert {"tasks_p2019_03", "tasks_p2019_04"} <= left
    assert kept_rows == 2


def test_prune_refuses_a_month_with_active_tasks_and_says_why(engine, cleanup, it_database_url):
    busy, done = partition_for(date(2018, 1, 1)), partition_for(date(2018, 2, 1))
    cleanup.extend([busy.name, done.name])
    pending = _task(datetime(2018, 1, 5, tzinfo=UTC), status="PENDING")
    with engine.begin() as conn:
        create_partition(conn, busy)
        create_partition(conn, done)
        conn.execute(sa.insert(tasks_table), [pending, _task(datetime(2018, 2, 5, tzinfo=UTC))])
    result = CliRunner().invoke(
        main,
        ["partitions", "prune", "--retention-months", "12"],
        env={"DATABASE_URL": it_database_url},
    )
    with engine.connect() as conn:
        names = {p.name for p in list_partitions(conn)}
        still_there = _partition_of(conn, pending["id"])
    assert result.exit_code == 1, result.output
    assert "refusing to drop tasks_p2018_01" in result.output
    assert "1 active task" in result.output
    assert "tasks_p2018_02" in result.output.splitlines()[0]  # dropped: ...
    assert busy.name in names and done.name not in names
    assert still_there == busy.name


def _gin_options(conn: sa.Connection) -> dict[str, list[str] | None]:
    """Each `tasks` partition's GIN index -> its storage options."""
    rows = conn.execute(
        sa.text(
            "SELECT h.inhrelid::regclass::text, c.reloptions FROM pg_inherits h "
            "JOIN pg_index i ON i.indrelid = h.inhrelid JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_am am ON am.oid = c.relam "
            "WHERE h.inhparent = 'tasks'::regclass AND am.amname = 'gin'"
        )
    )
    return {name: options for name, options in rows}


def test_every_partitions_payload_index_has_no_pending_list_also_a_new_one(engine, cleanup):
    cleanup.append("tasks_p2033_05")
    with engine.begin() as conn:
        before = _gin_options(conn)
        create_partition(conn, partition_for(date(2033, 5, 1)))
        after = _gin_options(conn)
    # The migration's partitions (the default one too) and the one made now alike.
    assert "tasks_default" in before
    assert set(after) == set(before) | {"tasks_p2033_05"}
    assert {name: opts for name, opts in after.items() if opts != ["fastupdate=off"]} == {}
