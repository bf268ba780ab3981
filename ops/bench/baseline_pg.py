"""Baselines (b) and (c): bare psycopg writing the API's rows into a throwaway database.

The database `tasks_bench_base` is created on the stack's PostgreSQL, migrated with the
service's Alembic migrations (same partitions, indexes and checks as `tasks`), used, and dropped.
(b) is the API's submit transaction (INSERT a task row, INSERT its outbox row, commit) one task
per transaction; (c) the same rows as one multi-row INSERT per table per 100 tasks.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg.types.json import Jsonb

from db.ids import created_at_of, uuid7
from db.migrate import upgrade
from db.outbox import task_row
from load import Driver, LoopResult

BASE_DATABASE = "tasks_bench_base"
TASK_COLUMNS = (
    "id",
    "created_at",
    "updated_at",
    "type",
    "payload",
    "priority",
    "run_at",
    "max_attempts",
    "status",
    "attempts",
    "correlation_id",
    "tenant",
    "idempotency_key",
)
OUTBOX_COLUMNS = ("topic", "key", "value", "headers")


def conninfo(url: str) -> str:
    """A libpq connection string from a SQLAlchemy URL."""
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(False)


@contextmanager
def throwaway_database(stack_url: str, name: str = BASE_DATABASE) -> Iterator[str]:
    """Create and migrate database `name` beside the stack's; drop it on exit. Yields its URL."""
    stack = sa.engine.make_url(stack_url)
    if name == stack.database:
        raise ValueError("refusing to use the stack's own database")
    admin = conninfo(stack.set(database="postgres").render_as_string(False))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = stack.set(database=name).render_as_string(False)
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _rows(count: int, correlation_id: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Task and outbox rows as db/tasks_repo.py builds them for an echo task of the bench."""
    now = datetime.now(UTC)
    tasks, outbox = [], []
    for _ in range(count):
        task_id = uuid7(now)
        created_at = created_at_of(task_id)
        tasks.append(
            (
                task_id,
                created_at,
                now,
                "echo",
                Jsonb({"bench": True}),
                0,
                None,
                4,
                "PENDING",
                0,
                correlation_id,
                "bench",
                None,
            )
        )
        row = task_row(task_id, created_at, "echo", 0, correlation_id)
        outbox.append((row["topic"], row["key"], Jsonb(row["value"]), Jsonb(row["headers"])))
    return tasks, outbox


def _insert_sql(table: str, columns: tuple[str, ...], rows: int) -> str:
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    # Table and column names are this module's constants; every value is a bound parameter.
    values = ", ".join([one] * rows)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}"  # noqa: S608


def _writer(
    url: str, *, threads: int, batch: int, correlation_id: str
) -> Driver[psycopg.Connection[Any]]:
    task_sql = _insert_sql("tasks", TASK_COLUMNS, batch)
    outbox_sql = _insert_sql("outbox", OUTBOX_COLUMNS, batch)

    def op(conn: psycopg.Connection[Any], _: int) -> None:
        tasks, outbox = _rows(batch, correlation_id)
        conn.execute(task_sql, [v for row in tasks for v in row])
        conn.execute(outbox_sql, [v for row in outbox for v in row])
        conn.commit()

    return Driver(
        setup=lambda: psycopg.connect(conninfo(url)),
        op=op,
        teardown=lambda conn: conn.close(),
        threads=threads,
    )


def api_transactions(url: str, *, threads: int, duration_s: float, max_tx: int) -> LoopResult:
    """(b) one task + outbox row per transaction from `threads` connections. No NOTIFY: the
    API wakes the relay after its commits, out of them (db/wakeup.py)."""
    driver = _writer(url, threads=threads, batch=1, correlation_id="bench-base-single")
    return driver.closed(duration_s, max_tx)


def multirow_inserts(
    url: str, *, threads: int, batch: int, duration_s: float, max_batches: int
) -> LoopResult:
    """(c) `batch` tasks per transaction as one multi-row INSERT per table; ops are batches."""
    driver = _writer(url, threads=threads, batch=batch, correlation_id="bench-base-batch")
    return driver.closed(duration_s, max_batches)
