"""Benchmark: how long the reconciler takes to recover a flushed Celery queue.

Run against the local stack (`make up`): `.venv/bin/python ops/bench/reconcile_recovery.py -n 500`.
It stops the worker, inserts N tasks (task + outbox rows, as the API does), waits until the
bridge has queued all of them in Redis, flushes the broker database (every queued message is
lost), starts the worker again and times how long until every task is COMPLETED. Only the
local stack on 127.0.0.1 is touched.
"""

import os
import subprocess
import time
from pathlib import Path
from typing import cast

import click
import sqlalchemy as sa
from redis import Redis

from db.engine import make_engine
from db.tasks_repo import NewTask, insert_tasks

REPO = Path(__file__).resolve().parents[2]


def _stack(*args: str) -> None:
    subprocess.run([str(REPO / "ops" / "stack.sh"), *args], check=True, timeout=180)


def _queued(broker: Redis) -> int:
    # redis-py types every command as sync-or-async; this client is the sync one.
    keys = cast("list[bytes]", broker.keys("tasks*"))
    return sum(cast(int, broker.llen(k)) for k in keys)


def _wait(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise click.ClickException(f"timed out waiting for {what}")
        time.sleep(0.2)


def _unpublished(engine: sa.Engine, ids: list[object]) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM outbox WHERE topic = 'tasks' AND key = ANY(:ids)"),
                {"ids": [str(i) for i in ids]},
            ).scalar_one()
        )


def _completed(engine: sa.Engine, ids: list[object]) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM tasks WHERE id = ANY(:ids) AND status = 'COMPLETED'"),
                {"ids": ids},
            ).scalar_one()
        )


@click.command()
@click.option("-n", "count", default=500, show_default=True, help="Tasks to lose and recover.")
@click.option("--timeout-s", default=600.0, show_default=True)
def main(count: int, timeout_s: float) -> None:
    """Lose N queued messages and time the reconciler's recovery."""
    database_url = os.environ.get(
        "DATABASE_URL", "postgresql+psycopg://tasks:tasks@127.0.0.1:5432/tasks"
    )
    broker = Redis.from_url(os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/1"))
    engine = make_engine(database_url)
    # Start from an empty Celery queue, so the flush loses exactly this run's messages.
    _wait(lambda: _queued(broker) == 0, timeout_s, "the Celery queue to drain")
    _stack("stop", "worker")
    try:
        with engine.begin() as conn:
            tasks = insert_tasks(
                conn, [NewTask("echo", {"bench": i}, max_attempts=4) for i in range(count)]
            )
        ids: list[object] = [t.id for t in tasks]
        _wait(
            lambda: _unpublished(engine, ids) == 0 and _queued(broker) >= count,
            timeout_s,
            "the tasks to reach the Celery queue",
        )
        broker.flushdb()
        click.echo(f"{count} queued messages flushed")
    finally:
        _stack("start", "worker")
    started = time.monotonic()
    done = 0
    while done < count and time.monotonic() - started < timeout_s:
        time.sleep(1)
        done = _completed(engine, ids)
    elapsed = time.monotonic() - started
    click.echo(f"recovered {done}/{count} tasks in {elapsed:.1f}s after the flush")
    engine.dispose()
    if done < count:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
