"""`taskctl dlt list|redrive`: inspect the dead-letter topic and send tasks back to work."""

import json
import time
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from db.engine import make_engine
from db.ids import parse_task_id
from db.redrive import failed_task_ids, redrive_task
from db.wire import DltRecord
from taskctl.dlt_topic import DltFilter, parse_payload_filter, read_dlt
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
) -> DltFilter:
    """The DltFilter of the command line's options, or a usage error."""
    for task_id in task_ids:
        if parse_task_id(task_id) is None:
            raise click.BadParameter(f"{task_id!r} is not a task id", param_hint="--task-id")
    try:
        payload_filter = parse_payload_filter(payload)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--payload") from None
    return DltFilter(
        types=frozenset(types),
        error_types=frozenset(error_types),
        since=_utc(since),
        until=_utc(until),
        task_ids=frozenset(task_ids),
        payload=payload_filter,
    )


def matching_records(settings: CliSettings, wanted: DltFilter) -> list[DltRecord]:
    """DLT records that pass the filter, latest record per task, oldest failure first."""
    latest: dict[str, DltRecord] = {}
    for record in read_dlt(settings.kafka_bootstrap_servers):
        if wanted.matches(record):
            latest[record.task_id] = record
    return sorted(latest.values(), key=lambda r: r.failed_at or datetime.min.replace(tzinfo=UTC))


@click.group()
def dlt() -> None:
    """The dead-letter topic `tasks-dlt`."""


@dlt.command("list")
@filter_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def list_records(settings: CliSettings, /, as_json: bool, **filters: Any) -> None:
    """Show dead-letter records (the latest per task) that match the filters."""
    records = matching_records(settings, build_filter(**filters))
    if as_json:
        for record in records:
            click.echo(json.dumps(record.summary()))
        return
    table = Table("id", "type", "error type", "attempts", "failed at", "correlation id")
    for r in records:
        failed = r.failed_at.isoformat(timespec="seconds") if r.failed_at else "-"
        table.add_row(
            r.task_id, r.type, r.error_type or "-", str(r.attempts), failed, r.correlation_id or "-"
        )
    # A pipe gets the full width: ids and errors are worth more than a tidy wrap.
    console = Console() if Console().is_terminal else Console(width=200)
    console.print(table)
    click.echo(f"{len(records)} record(s)")


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
    wanted = build_filter(**filters)
    records = matching_records(settings, wanted)
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            ids = [r.task_id for r in records]
            parsed = [p for p in (parse_task_id(i) for i in ids) if p is not None]
            failed = {str(i) for i in failed_task_ids(conn, parsed)}
        # Records of tasks that are no longer FAILED were re-driven already (or by someone else).
        candidates = [r for r in records if r.task_id in failed][: limit or None]
        if dry_run:
            for r in candidates:
                click.echo(
                    json.dumps(
                        {"would_redrive": r.task_id, "type": r.type, "error_type": r.error_type}
                    )
                )
            click.echo(f"dry run: {len(candidates)} task(s) would be re-driven; nothing changed")
            return
        if not candidates:
            click.echo("nothing to re-drive")
            return
        if not yes and not click.confirm(f"re-drive {len(candidates)} task(s)?"):
            raise click.Abort
        done = _redrive_all(engine, candidates, rate)
    finally:
        engine.dispose()
    click.echo(f"re-drove {done} task(s)")


def _redrive_all(engine: Any, candidates: list[DltRecord], rate: float | None) -> int:
    interval_s = 1 / rate if rate else 0.0
    done = 0
    next_at = time.monotonic()
    with Progress(transient=True) as progress:
        bar = progress.add_task("re-driving", total=len(candidates))
        for record in candidates:
            if interval_s:
                time.sleep(max(0.0, next_at - time.monotonic()))
                next_at = max(next_at, time.monotonic()) + interval_s
            task_id = parse_task_id(record.task_id)
            if task_id is None:
                continue
            # One transaction per task: the reset and its outbox row land together, and a run
            # killed halfway leaves every task either re-driven or still FAILED.
            with engine.begin() as conn:
                if redrive_task(conn, task_id) is not None:
                    done += 1
            progress.advance(bar)
    return done
