"""`taskctl dlt list|redrive`: the failed tasks, and sending them back to work.

Both select FAILED rows in PostgreSQL by their latest failure (db/failed.py): rows are kept as
long as their month, longer than the topic may keep a record. `dlt list --topic` reads the
`tasks-dlt` topic itself instead (the latest record of each task). `dlt redrive` is a client of
the API's re-drives (TASKCTL_API_URL, TASKCTL_API_KEY).
"""

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from db.engine import make_engine
from db.failed import FailedFilter, FailedTask, failed_tasks
from db.ids import parse_task_id
from taskctl import api
from taskctl.dlt_topic import DltFilter, latest_records, parse_payload_filter, read_dlt
from taskctl.settings import CliSettings

# How often the progress bar asks the API how far the re-drive got.
POLL_S = 0.5


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
@click.option("--all-tenants", is_flag=True, help="Every tenant's failed tasks (admin key).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def redrive(  # noqa: PLR0917 - click passes every option positionally by name.
    settings: CliSettings,
    /,
    dry_run: bool,
    limit: int | None,
    rate: float | None,
    all_tenants: bool,
    yes: bool,
    **filters: Any,
) -> None:
    """Reset matching FAILED tasks to PENDING and publish them again (ids kept).

    Runs as a re-drive of the API (POST /api/redrives) in the background on the maintenance
    lane, so it survives this command being stopped; the bar follows its progress. Exits 1
    when not every matched task was re-driven.
    """
    wanted = build_filter(**filters)
    if dry_run:
        candidates = _failed(settings, wanted, limit)
        for task in candidates:
            line = {"would_redrive": str(task.id), "type": task.type, "error_type": task.error_type}
            click.echo(json.dumps(line))
        click.echo(f"dry run: {len(candidates)} task(s) would be re-driven; nothing changed")
        return
    body: dict[str, Any] = {"filter": _api_filter(wanted), "all_tenants": all_tenants}
    if limit is not None:
        body["limit"] = limit
    if rate is not None:
        body["rate"] = rate
    with api.client(settings) as http:
        preview = api.call(http, "POST", "/api/redrives", json={**body, "dry_run": True})
        if not preview["matched"]:
            click.echo("nothing to re-drive")
            return
        if not yes and not click.confirm(f"re-drive {preview['matched']} task(s)?"):
            raise click.Abort
        started = api.call(http, "POST", "/api/redrives", json=body)
        final = _follow(http, started)
    done, matched = final["redriven"], final["matched"]
    click.echo(f"re-drove {done} task(s) (re-drive {final['id']}, {final['state'].lower()})")
    if final["state"] != "COMPLETED" or done != matched:
        raise click.ClickException(
            f"re-drove {done} of {matched}: {final['skipped']} skipped (no longer FAILED), "
            f"{final['failed']} failed"
        )


def _api_filter(wanted: FailedFilter) -> dict[str, Any]:
    found: dict[str, Any] = {
        "types": list(wanted.types),
        "error_types": list(wanted.error_types),
        "task_ids": [str(i) for i in wanted.task_ids],
        "payload": wanted.payload,
    }
    if wanted.since:
        found["failed_since"] = wanted.since.isoformat()
    if wanted.until:
        found["failed_until"] = wanted.until.isoformat()
    return {k: v for k, v in found.items() if v}


def _follow(http: Any, started: dict[str, Any]) -> dict[str, Any]:
    """Poll the re-drive until it ends, with a live progress bar."""
    current = started
    with Progress(transient=True) as progress:
        bar = progress.add_task("re-driving", total=max(current["matched"], 1))
        while current["state"] in ("PENDING", "RUNNING"):
            time.sleep(POLL_S)
            current = api.call(http, "GET", current["links"]["self"])
            progress.update(
                bar,
                total=max(current["matched"], 1),
                completed=current["redriven"] + current["skipped"] + current["failed"],
            )
    return current
