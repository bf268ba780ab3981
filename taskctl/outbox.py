"""`taskctl outbox parked|unpark`: records the relay set aside because Kafka cannot take them."""

import json

import click

from db.engine import make_engine
from db.outbox import parked_rows, unpark
from taskctl.settings import CliSettings


@click.group()
def outbox() -> None:
    """The transactional outbox (rows waiting for the relay)."""


@outbox.command("parked")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--limit", type=click.IntRange(min=1), default=1000, show_default=True)
@click.pass_obj
def list_parked(settings: CliSettings, as_json: bool, limit: int) -> None:
    """Show parked rows: what they hold and why Kafka could not take them."""
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            rows = parked_rows(conn, limit)
    finally:
        engine.dispose()
    for r in rows:
        if as_json:
            record = {
                "id": r.id,
                "topic": r.topic,
                "key": r.key,
                "value_bytes": r.value_bytes,
                "created_at": r.created_at.isoformat(),
                "parked_at": r.parked_at.isoformat(),
                "reason": r.reason,
            }
            click.echo(json.dumps(record))
        else:
            click.echo(
                f"{r.id}  {r.topic}  {r.key}  {r.value_bytes} bytes  "
                f"{r.parked_at:%Y-%m-%d %H:%M:%S}  {r.reason}"
            )
    if not as_json:
        click.echo(f"{len(rows)} parked row(s)")


@outbox.command("unpark")
@click.argument("row_ids", nargs=-1, type=int)
@click.option("--all", "every", is_flag=True, help="Every parked row.")
@click.pass_obj
def unpark_rows(settings: CliSettings, row_ids: tuple[int, ...], every: bool) -> None:
    """Put parked rows back in line (after fixing their cause: a topic created, a limit raised)."""
    if not row_ids and not every:
        raise click.UsageError("name row ids or pass --all")
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with engine.begin() as conn:
            count = unpark(conn, None if every else list(row_ids))
    finally:
        engine.dispose()
    click.echo(f"{count} row(s) back in line")
