"""Benchmark of the PostgreSQL strategy (issue 4) on a throwaway database.

    .venv/bin/python ops/bench/pg_strategy.py --rows 1000000

Creates the database `tasks_bench` (dropped first if it exists) on the stack's PostgreSQL,
migrates it, fills it with ops/gen_tasks.py, then measures, through the service's own query
code: payload search with and without the GIN index, the active-task query with the partial
index, with a full index and with none, and pruning one month (against a bulk DELETE of a
month, rolled back). Indexes are dropped inside transactions that are rolled back. The
database is dropped at the end unless --keep.
"""

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import psycopg
import sqlalchemy as sa

from db.engine import make_engine
from db.migrate import upgrade
from db.models import ACTIVE_STATUSES, tasks_table
from db.partitions import list_partitions
from db.retention import prune_partitions
from db.search import TaskFilter, search_tasks

REPO = Path(__file__).resolve().parents[2]
ADMIN_URL = "postgresql://tasks:tasks@127.0.0.1:5432/postgres"
BENCH_URL = "postgresql+psycopg://tasks:tasks@127.0.0.1:5432/{db}"


def _conninfo(url: str) -> str:
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(False)


def _timed(conn: sa.Connection, run: Callable[[sa.Connection], Any], repeat: int) -> list[float]:
    """Milliseconds of each run (after one warm-up run)."""
    run(conn)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run(conn)
        times.append((time.perf_counter() - started) * 1000)
    return times


def _summary(times: list[float]) -> str:
    p95 = statistics.quantiles(times, n=20)[-1] if len(times) >= 2 else times[0]
    return f"median {statistics.median(times):8.2f} ms   p95 {p95:8.2f} ms   (n={len(times)})"


def _plan(conn: sa.Connection, sql: str) -> str:
    rows = conn.exec_driver_sql("EXPLAIN " + sql)
    return " | ".join(r[0].strip() for r in rows if "Scan" in r[0])[:200]


def _active_query(conn: sa.Connection) -> list[Any]:
    t = tasks_table
    query = (
        sa.select(t.c.id, t.c.status)
        .where(t.c.status.in_([s.value for s in ACTIVE_STATUSES]))
        .order_by(t.c.updated_at)
        .limit(500)
    )
    return list(conn.execute(query))


def _bench_search(conn: sa.Connection, repeat: int, label: str) -> None:
    customers = [f"c-{n}" for n in range(17, 17 + repeat * 37, 37)]
    idx = iter(range(10**9))

    def common(c: sa.Connection) -> None:
        who = customers[next(idx) % len(customers)]
        search_tasks(c, TaskFilter(payload={"customer": who}), 50)

    def unique(c: sa.Connection) -> None:
        search_tasks(c, TaskFilter(payload={"order": 123_457 + next(idx)}), 50)

    click.echo(f"  search payload @> customer (~100 matches, page of 50), {label}:")
    click.echo(f"    {_summary(_timed(conn, common, repeat))}")
    click.echo(f"  search payload @> order (1 match), {label}:")
    click.echo(f"    {_summary(_timed(conn, unique, repeat))}")


def _size(conn: sa.Connection, parent: str) -> str:
    """Total size of a partitioned table's or index's partitions."""
    return str(
        conn.execute(
            sa.text(
                "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits "
                "WHERE inhparent = CAST(:parent AS regclass)"
            ),
            {"parent": parent},
        ).scalar_one()
    )


def measure_search(conn: sa.Connection, repeat: int) -> None:
    """[1] payload containment search with and without the GIN index."""
    click.echo("\n[1] payload containment search (db.search.search_tasks)")
    _bench_search(conn, repeat, "with GIN tasks_payload_gin")
    conn.rollback()
    with conn.begin() as tx:
        conn.execute(sa.text("DROP INDEX tasks_payload_gin"))
        _bench_search(conn, max(3, repeat // 4), "WITHOUT GIN")
        tx.rollback()


def measure_active(conn: sa.Connection, repeat: int) -> None:
    """[2] the active-task query with the partial index, a full index, and no index."""
    click.echo("\n[2] active tasks: status IN (active) ORDER BY updated_at LIMIT 500")
    sql = (
        "SELECT id FROM tasks WHERE status IN ('SCHEDULED','PENDING','PROCESSING','RETRYING') "
        "ORDER BY updated_at LIMIT 500"
    )
    click.echo(f"  with partial tasks_active_idx ({_size(conn, 'tasks_active_idx')}):")
    click.echo(f"    {_summary(_timed(conn, _active_query, repeat))}")
    click.echo(f"    plan: {_plan(conn, sql)}")
    conn.rollback()
    with conn.begin() as tx:
        conn.execute(sa.text("DROP INDEX tasks_active_idx"))
        conn.execute(sa.text("CREATE INDEX bench_full_idx ON tasks (status, updated_at)"))
        conn.execute(sa.text("ANALYZE tasks"))
        click.echo(
            f"  with a full index on (status, updated_at) ({_size(conn, 'bench_full_idx')}):"
        )
        click.echo(f"    {_summary(_timed(conn, _active_query, repeat))}")
        conn.execute(sa.text("DROP INDEX bench_full_idx"))
        click.echo("  with no index on status (sequential scans):")
        click.echo(f"    {_summary(_timed(conn, _active_query, max(3, repeat // 4)))}")
        click.echo(f"    plan: {_plan(conn, sql)}")
        tx.rollback()


def measure_retention(engine: sa.Engine, url: str) -> None:
    """[3] pruning the oldest month, against a bulk DELETE (and its VACUUM) of the next one."""
    click.echo("\n[3] retention")
    with engine.connect() as conn:
        oldest, second = list_partitions(conn)[:2]
        counts = {
            p.name: conn.execute(
                sa.select(sa.func.count()).select_from(sa.table(p.name))
            ).scalar_one()
            for p in (oldest, second)
        }
        conn.rollback()
        with conn.begin():
            start, end = second.bounds
            began = time.perf_counter()
            conn.execute(
                sa.text("DELETE FROM tasks WHERE created_at >= :s AND created_at < :e"),
                {"s": start, "e": end},
            )
        deleted_ms = (time.perf_counter() - began) * 1000
    # The DELETE only marks rows dead; VACUUM is the rest of its cost (table and 3 indexes).
    with psycopg.connect(_conninfo(url), autocommit=True) as raw:
        began = time.perf_counter()
        raw.execute(f'VACUUM "{second.name}"')
        vacuum_ms = (time.perf_counter() - began) * 1000
    click.echo(
        f"  bulk DELETE of {second.name} ({counts[second.name]} rows): {deleted_ms:.0f} ms, "
        f"then VACUUM {vacuum_ms:.0f} ms"
    )
    today = datetime.now(UTC).date()
    months = (today.year - oldest.start.year) * 12 + today.month - oldest.start.month - 1
    began = time.perf_counter()
    report = prune_partitions(engine, retention_months=months, today=today)
    took = (time.perf_counter() - began) * 1000
    click.echo(
        f"  prune (DETACH + DROP) of {', '.join(report.dropped)} "
        f"({counts[oldest.name]} rows): {took:.0f} ms"
    )


@click.command()
@click.option("--rows", type=click.IntRange(min=1000), default=1_000_000, show_default=True)
@click.option("--database", default="tasks_bench", show_default=True)
@click.option("--repeat", default=20, show_default=True, help="Timed runs per query.")
@click.option("--keep", is_flag=True, help="Keep the database afterwards.")
def main(rows: int, database: str, repeat: int, keep: bool) -> None:
    """Fill a throwaway database with ROWS tasks and print the figures of issue 4."""
    if database == "tasks":
        raise click.BadParameter(
            "refusing to use the stack's own database", param_hint="--database"
        )
    url = BENCH_URL.format(db=database)
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        upgrade(url)
        started = time.perf_counter()
        generator = [sys.executable, str(REPO / "ops" / "gen_tasks.py"), "--database-url", url]
        subprocess.run([*generator, "--rows", str(rows)], check=True)
        click.echo(f"generated {rows} rows in {time.perf_counter() - started:.1f}s")
        engine = make_engine(url, pool_size=1)
        with engine.connect() as conn:
            active = conn.execute(
                sa.text("SELECT count(*) FROM tasks WHERE status = ANY(:s)"),
                {"s": [s.value for s in ACTIVE_STATUSES]},
            ).scalar_one()
            click.echo(f"tasks: {rows} rows, {active} active, {_size(conn, 'tasks')} with indexes")
            measure_search(conn, repeat)
            measure_active(conn, repeat)
        measure_retention(engine, url)
        engine.dispose()
    finally:
        if not keep:
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            click.echo(f"dropped database {database}")


if __name__ == "__main__":
    main()
