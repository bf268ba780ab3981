"""Fill `tasks` with N synthetic tasks spread over the last M months, fast (COPY).

Run with the project's venv, against a database you can fill (not the stack's by accident):

    .venv/bin/python ops/gen_tasks.py --rows 1000000 \
        --database-url postgresql+psycopg://tasks:tasks@127.0.0.1:5432/tasks_bench

It creates the monthly partitions the rows need, then streams rows in batches, one COPY and
commit per batch. Ids are UUIDv7 built from each row's `created_at`, like the API's. Tasks of
the last two days are half active (SCHEDULED, PENDING, PROCESSING, RETRYING), older ones are
finished (mostly COMPLETED, some FAILED and CANCELLED), so retention can drop old months.
"""

import io
import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import click
import psycopg
import sqlalchemy as sa

from db.ids import created_at_of, uuid7
from db.migrate import upgrade
from db.partitions import add_months, create_partition, partition_for

COLUMNS = (
    "id, created_at, updated_at, type, payload, priority, max_attempts, status, attempts, "
    "result, started_at, finished_at, correlation_id, tenant"
)
TYPES = ("process_data", "process_data", "process_data", "echo", "echo", "sleep", "fail")
REGIONS = ("eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-east", "sa", "af")
ACTIVE = ("SCHEDULED", "PENDING", "PROCESSING", "RETRYING")
CUSTOMERS = 10_000
TENANTS = 20


def _conninfo(url: str) -> str:
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(False)


def _status(rng: random.Random, created_at: datetime, now: datetime) -> str:
    if now - created_at < timedelta(days=2) and rng.random() < 0.5:
        return rng.choice(ACTIVE)
    roll = rng.random()
    return "COMPLETED" if roll < 0.94 else "FAILED" if roll < 0.99 else "CANCELLED"


def _line(rng: random.Random, i: int, created_at: datetime, now: datetime) -> str:
    task_id = uuid7(created_at)
    created = created_at_of(task_id)
    status = _status(rng, created, now)
    finished = status in {"COMPLETED", "FAILED", "CANCELLED"}
    max_attempts = 4
    attempts = max_attempts if status == "FAILED" else (1 if finished else 0)
    payload = {
        "action": "process_data",
        "customer": f"c-{rng.randrange(CUSTOMERS)}",
        "region": rng.choice(REGIONS),
        "order": i,
        "amount": rng.randrange(1, 100_000),
    }
    done_at = created + timedelta(milliseconds=rng.randrange(20, 5000))
    result = json.dumps({"ok": True}) if status == "COMPLETED" else "\\N"
    fields = [
        str(task_id),
        created.isoformat(),
        (done_at if finished else created).isoformat(),
        rng.choice(TYPES),
        json.dumps(payload, separators=(",", ":")),
        str(rng.randrange(10)),
        str(max_attempts),
        status,
        str(attempts),
        result,
        done_at.isoformat() if finished else "\\N",
        done_at.isoformat() if finished else "\\N",
        f"gen-{i}",
        f"tenant-{rng.randrange(TENANTS)}",
    ]
    return "\t".join(fields) + "\n"


def _batches(rows: int, months: int, batch: int, seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    span_s = timedelta(days=round(months * 365 / 12)).total_seconds()
    start = now - timedelta(seconds=span_s)
    buf = io.StringIO()
    for i in range(rows):
        created_at = start + timedelta(seconds=rng.random() * span_s)
        buf.write(_line(rng, i, created_at, now))
        if (i + 1) % batch == 0:
            yield buf.getvalue()
            buf = io.StringIO()
    if buf.tell():
        yield buf.getvalue()


def create_and_migrate(url: str) -> None:
    """Create the database `url` names when it does not exist, and migrate it."""
    target = sa.engine.make_url(url)
    with psycopg.connect(_conninfo(target.set(database="postgres")), autocommit=True) as admin:
        found = admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (target.database,)
        ).fetchone()
        if not found:
            admin.execute(f'CREATE DATABASE "{target.database}"')
    upgrade(url)


def ensure_history(url: str, months: int) -> list[str]:
    """Create the partitions of the last `months` months and the current one."""
    engine = sa.create_engine(url)
    today = datetime.now(UTC).date()
    created = []
    with engine.begin() as conn:
        existing = set(
            conn.execute(
                sa.text("SELECT relname FROM pg_class WHERE relname LIKE 'tasks\\_p%'")
            ).scalars()
        )
        for back in range(months, -1, -1):
            part = partition_for(add_months(today, -back))
            if part.name not in existing:
                create_partition(conn, part)
                created.append(part.name)
    engine.dispose()
    return created


@click.command()
# No default: filling the stack's own database by accident would hurt.
@click.option("--database-url", required=True, help="SQLAlchemy URL of the database to fill.")
@click.option("--rows", type=click.IntRange(min=1), default=100_000, show_default=True)
@click.option("--months", type=click.IntRange(min=1), default=12, show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=50_000, show_default=True)
@click.option("--seed", type=int, default=4, show_default=True)
@click.option("--create-database", is_flag=True, help="Create and migrate it when missing.")
def main(  # noqa: PLR0917 - click passes every option by name.
    database_url: str, rows: int, months: int, batch: int, seed: int, create_database: bool
) -> None:
    """Insert ROWS synthetic tasks spread over the last MONTHS months."""
    if create_database:
        create_and_migrate(database_url)
    created = ensure_history(database_url, months)
    click.echo(f"partitions created: {', '.join(created) or 'none'}")
    started = time.perf_counter()
    done = 0
    with psycopg.connect(_conninfo(database_url)) as conn:
        for chunk in _batches(rows, months, batch, seed):
            with conn.cursor() as cur, cur.copy(f"COPY tasks ({COLUMNS}) FROM STDIN") as copy:
                copy.write(chunk)
            conn.commit()
            done += chunk.count("\n")
            elapsed = time.perf_counter() - started
            click.echo(f"{done} rows in {elapsed:.1f}s ({done / elapsed:,.0f} rows/s)")
        conn.execute("ANALYZE tasks")
        conn.commit()
    click.echo(f"done: {done} rows in {time.perf_counter() - started:.1f}s (with ANALYZE)")


if __name__ == "__main__":
    main()
