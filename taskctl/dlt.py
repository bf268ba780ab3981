"""`taskctl dlt list|redrive`: the failed tasks, and sending them back to work.

Both select FAILED rows in PostgreSQL by their latest failure (db/failed.py): rows are kept as
long as their month, longer than the topic may keep a record. `dlt list --topic` reads the
`tasks-dlt` topic itself instead (the latest record of each task).
"""

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import click
import sqlalchemy as sa
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from db.engine import make_engine
from db.failed import FailedFilter, FailedTask, failed_tasks
from db.ids import parse_task_id
from db.redrive import redrive_task
from taskctl.dlt_topic import DltFilter, latest_records, parse_payload_filter, read_dlt
from taskctl.settings import CliSettings


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def filter_options(func: Any) -> Any:
    """The filters `list` and `redrive` share."""
    options = [
        click.option("--type", "types", multiple=True, help="Task type (repeatable)."),
        click.option("--error-type", "error_types", multiple=True, help="Error class name."),
        click.option("--since", type=click.DateTime(), help="Failed at or after (UTC)."),
        click.option("--until", type=click.DateTime(), help="Failed before (UTC)."),
        click.option("--task-id", "task_ids", multiple=True, help="Task id (repeatable)."),
        click.option("--payload", "payload", multiple=True, help="key=value in the payload."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_filter(
    *,
    types: tuple[str, ...],
    error_types: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    task_ids: tuple[str, ...],
    payload: tuple[str, ...],
) -> FailedFilter:
    """The filter of the command line's options, or a usage error."""
    ids: list[uuid.UUID] = []
    for task_id in task_ids:
        parsed = parse_task_id(task_id)
        if parsed is None:
            raise click.BadParameter(f"{task_id!r} is not a task id", param_hint="--task-id")
        ids.append(parsed)
    try:
        payload_filter = parse_payload_filter(payload)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--payload") from None
    return FailedFilter(
        types=types,
        error_types=error_types,
        since=_utc(since),
        until=_utc(until),
        task_ids=tuple(ids),
        payload=payload_filter,
    )


def _topic_filter(wanted: FailedFilter) -> DltFilter:
    return DltFilter(
        types=frozenset(wanted.types),
        error_types=frozenset(wanted.error_types),
        since=wanted.since,
        until=wanted.until,
        task_ids=frozenset(str(i) for i in wanted.task_ids),
        payload=wanted.payload,
    )


def _failed(settings: CliSettings, wanted: FailedFilter, limit: int | None) -> list[FailedTask]:
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            return failed_tasks(conn, wanted, limit)
    finally:
        engine.dispose()


@click.group()
def dlt() -> None:
    """Failed tasks (PostgreSQL) and the dead-letter topic `tasks-dlt`."""


@dlt.command("list")
@filter_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--topic", "from_topic", is_flag=True, help="Read the tasks-dlt topic instead.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N.")
@click.pass_obj
def list_failed(
    settings: CliSettings, /, as_json: bool, from_topic: bool, limit: int | None, **filters: Any
) -> None:
    """Show failed tasks (their latest failure) that match the filters, oldest first."""
    wanted = build_filter(**filters)
    if from_topic:
        records = latest_records(read_dlt(settings.kafka_bootstrap_servers))
        found = [r for r in records if _topic_filter(wanted).matches(r)][:limit]
        rows = [
            (r.task_id, r.type, r.error_type, r.attempts, r.failed_at, r.correlation_id)
            for r in found
        ]
        summaries = [r.summary() for r in found]
    else:
        tasks = _failed(settings, wanted, limit)
        rows = [
            (str(t.id), t.type, t.error_type, t.attempts, t.failed_at, t.correlation_id)
            for t in tasks
        ]
        summaries = [t.summary() for t in tasks]
    if as_json:
        for summary in summaries:
            click.echo(json.dumps(summary))
        return
    table = Table("id", "type", "error type", "attempts", "failed at", "correlation id")
    for task_id, task_type, error_type, attempts, failed_at, correlation_id in rows:
        failed = failed_at.isoformat(timespec="seconds") if failed_at else "-"
        table.add_row(
            task_id, task_type, error_type or "-", str(attempts), failed, correlation_id or "-"
        )
    # A pipe gets the full width: ids and errors are worth more than a tidy wrap.
    console = Console() if Console().is_terminal else Console(width=200)
    console.print(table)
    click.echo(f"{len(rows)} task(s)")


@dlt.command("redrive")
@filter_options
@click.option("--dry-run", is_flag=True, help="Show what would be re-driven; change nothing.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Re-drive at most N.")
@click.option("--rate", type=click.FloatRange(min=0.01), default=None, help="At most N per second.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def redrive(
    settings: CliSettings,
    /,
    dry_run: bool,
    limit: int | None,
    rate: float | None,
    yes: bool,
    **filters: Any,
) -> None:
    """Reset matching FAILED tasks to PENDING and publish them again (ids kept)."""
    candidates = _failed(settings, build_filter(**filters), limit)
    if dry_run:
        for task in candidates:
            click.echo(
                json.dumps(
                    {
                        "would_redrive": str(task.id),
                        "type": task.type,
                        "error_type": task.error_type,
                    }
                )
            )
        click.echo(f"dry run: {len(candidates)} task(s) would be re-driven; nothing changed")
        return
    if not candidates:
        click.echo("nothing to re-drive")
        return
    if not yes and not click.confirm(f"re-drive {len(candidates)} task(s)?"):
        raise click.Abort
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        done = _redrive_all(engine, candidates, rate)
    finally:
        engine.dispose()
    click.echo(f"re-drove {done} task(s)")


def _redrive_all(engine: sa.Engine, candidates: list[FailedTask], rate: float | None) -> int:
    interval_s = 1 / rate if rate else 0.0
    done = 0
    next_at = time.monotonic()
    with Progress(transient=True) as progress:
        bar = progress.add_task("re-driving", total=len(candidates))
        for task in candidates:
            if interval_s:
                time.sleep(max(0.0, next_at - time.monotonic()))
                next_at = max(next_at, time.monotonic()) + interval_s
            # One transaction per task: the reset and its outbox row land together, and a run
            # killed halfway leaves every task either re-driven or still FAILED.
            with engine.begin() as conn:
                if redrive_task(conn, task.id) is not None:
                    done += 1
            progress.advance(bar)
    return done
