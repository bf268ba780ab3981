"""The bench waits for a backlog before it measures: what it counts as one (real PostgreSQL,
the test database). The wait itself runs in every bench, `tests/ops/test_bench.py` among them."""

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import sqlalchemy as sa

from db.tasks_repo import NewTask, insert_tasks

BENCH = Path(__file__).resolve().parents[2] / "ops" / "bench"
# The bench's modules import each other by name, as `ops/bench/run.py` (a script) sees them.
sys.path.insert(0, str(BENCH))

import backlog as bench_backlog  # noqa: E402


def backlog(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return bench_backlog.backlog(conn)


def test_pending_tasks_and_unpublished_outbox_rows_are_a_backlog_the_rest_is_not(
    engine, it_database_url
):
    later = datetime.now(UTC) + timedelta(hours=1)
    url = sa.engine.make_url(it_database_url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as raw:
        before = backlog(engine)
        with engine.begin() as conn:
            tasks = insert_tasks(
                conn,
                [
                    NewTask("echo", {}, max_attempts=1),
                    NewTask("echo", {}, max_attempts=1),
                    NewTask("echo", {}, max_attempts=1, run_at=later),
                ],
            )
        ids = [str(t.id) for t in tasks]
        try:
            # Two tasks pending and their two outbox rows; the scheduled task is not due.
            assert backlog(engine) == before + 4
            raw.execute(
                "UPDATE outbox SET parked_at = now(), park_reason = 'test' WHERE key = ANY(%s)",
                [ids],
            )
            raw.execute("UPDATE tasks SET status = 'COMPLETED' WHERE id = ANY(%s::uuid[])", [ids])
            # Parked rows wait for an operator, completed tasks for nothing.
            assert backlog(engine) == before
        finally:
            raw.execute("DELETE FROM outbox WHERE key = ANY(%s)", [ids])
            raw.execute("DELETE FROM tasks WHERE id = ANY(%s::uuid[])", [ids])
