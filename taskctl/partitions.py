"""`taskctl partitions ...`: monthly partitions of `tasks` (registered by taskctl/cli.py)."""

import sys

import click

from db.engine import make_engine
from db.partitions import default_partition_rows, ensure_partitions, list_partitions
from db.retention import DEFAULT_RETENTION_MONTHS, prune_partitions
from taskctl.settings import CliSettings


@click.group()
def partitions() -> None:
    """Monthly partitions of the tasks table."""


@partitions.command("ensure")
@click.option("--ahead", default=3, show_default=True, help="Months to create ahead.")
@click.pass_obj
def partitions_ensure(settings: CliSettings, ahead: int) -> None:
    """Create the partitions of this month and the next AHEAD months (idempotent)."""
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.begin() as conn:
        created = ensure_partitions(conn, ahead)
        names = [p.name for p in list_partitions(conn)]
        stray = default_partition_rows(conn)
    engine.dispose()
    click.echo(f"created: {', '.join(created) or 'none'}; partitions: {', '.join(names)}")
    if stray:
        click.echo(f"warning: the default partition holds {stray} row(s)", err=True)


@partitions.command("prune")
@click.option(
    "--retention-months",
    type=click.IntRange(min=1),
    default=DEFAULT_RETENTION_MONTHS,
    show_default=True,
    help="Keep this many full months before the current one.",
)
@click.pass_obj
def partitions_prune(settings: CliSettings, retention_months: int) -> None:
    """Detach and drop partitions older than the retention (idempotent; never a bulk DELETE).

    Exits with status 1, naming each partition, when some still hold active tasks.
    """
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        report = prune_partitions(engine, retention_months)
    finally:
        engine.dispose()
    click.echo(f"dropped: {', '.join(report.dropped) or 'none'}")
    for err in report.refused:
        click.echo(f"error: {err}", err=True)
    if report.refused:
        sys.exit(1)


@partitions.command("list")
@click.pass_obj
def partitions_list(settings: CliSettings) -> None:
    """Print each monthly partition with its range, and the default partition's row count."""
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.connect() as conn:
        parts = list_partitions(conn)
        stray = default_partition_rows(conn)
    engine.dispose()
    for part in parts:
        click.echo(f"{part.name}  [{part.start}, {part.end})")
    click.echo(f"tasks_default  rows={stray}")
