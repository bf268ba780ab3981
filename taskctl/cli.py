"""`taskctl`: the operator's command line (console script from pyproject.toml)."""

import json
import sys
import time
from typing import Any

import click
import sqlalchemy as sa
from confluent_kafka import KafkaException

from celery_tasks.catalog import CATALOG
from db import migrate as db_migrate
from db.engine import make_engine
from db.ids import parse_task_id
from db.tasks_repo import get_task, insert_tasks
from db.topics import ensure_topics, make_admin, topic_configs
from taskctl.apikeys import apikey
from taskctl.dlt import dlt
from taskctl.outbox import outbox
from taskctl.partitions import partitions
from taskctl.settings import CliSettings
from taskkit.settings import settings_or_exit
from webapp.errors import ApiError
from webapp.validation import correlation_id_from, parse_submission
from webapp.views import task_view


def _wait_for_database(url: str, timeout_s: float) -> None:
    engine = make_engine(url, pool_size=1)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                with engine.connect() as conn:
                    conn.execute(sa.text("SELECT 1"))
            except sa.exc.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
            else:
                return
    finally:
        engine.dispose()


class OutageAware(click.Group):
    """Answers a service that cannot be reached with one line and exit status 1, not a
    traceback: an operator reads what is down, not where in the code it was noticed."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except sa.exc.OperationalError as err:
            raise click.ClickException(
                f"PostgreSQL is unavailable: {_first_line(err.orig)}"
            ) from None
        except KafkaException as err:
            raise click.ClickException(f"Kafka is unavailable: {err}") from None
        except TimeoutError as err:
            raise click.ClickException(f"a service did not answer in time: {err}") from None


def _first_line(err: object) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


@click.group(cls=OutageAware)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Operate the task service: migrations, topics, partitions, tasks."""
    ctx.obj = settings_or_exit(CliSettings.from_env, "taskctl")


@main.command()
@click.option("--wait-s", default=60.0, show_default=True, help="Wait this long for PostgreSQL.")
@click.pass_obj
def migrate(settings: CliSettings, wait_s: float) -> None:
    """Apply the database migrations (idempotent)."""
    _wait_for_database(settings.database_url, wait_s)
    db_migrate.upgrade(settings.database_url)
    click.echo("migrations applied")


@main.group()
def topics() -> None:
    """Kafka topics of the service."""


@topics.command("ensure")
@click.option("--wait-s", default=60.0, show_default=True, help="Wait this long for Kafka.")
@click.pass_obj
def topics_ensure(settings: CliSettings, wait_s: float) -> None:
    """Create the `tasks` and `tasks-dlt` topics when missing and set their retention and
    size limits (idempotent)."""
    created = ensure_topics(
        make_admin(settings.kafka_bootstrap_servers),
        wait_s=wait_s,
        configs=topic_configs(settings.retention_months),
    )
    click.echo(f"created topics: {', '.join(created)}" if created else "topics already exist")


main.add_command(partitions)


@main.command()
@click.argument("task_type")
@click.option("--payload", default="{}", show_default=True, help="JSON object.")
@click.option("--priority", default=0, show_default=True)
@click.option("--max-attempts", type=int, default=None)
@click.option("--correlation-id", default=None)
@click.pass_obj
def submit(  # noqa: PLR0917 - click passes every option positionally by name.
    settings: CliSettings,
    task_type: str,
    payload: str,
    priority: int,
    max_attempts: int | None,
    correlation_id: str | None,
) -> None:
    """Submit a task directly to the database (same validation as the API)."""
    body: dict[str, Any] = {"type": task_type, "payload": payload, "priority": priority}
    if max_attempts is not None:
        body["max_attempts"] = max_attempts
    try:
        new = parse_submission(
            body, CATALOG, settings.limits, correlation_id=correlation_id_from(correlation_id)
        )
    except ApiError as err:
        raise click.ClickException(err.detail) from None
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.begin() as conn:
        (task,) = insert_tasks(conn, [new])
    engine.dispose()
    click.echo(json.dumps({"id": str(task.id), "status": task.status.value}))


@main.command()
@click.argument("task_id")
@click.pass_obj
def get(settings: CliSettings, task_id: str) -> None:
    """Print one task as JSON."""
    parsed = parse_task_id(task_id)
    if parsed is None:
        raise click.BadParameter("not a task id", param_hint="TASK_ID")
    engine = make_engine(settings.database_url, pool_size=1)
    with engine.connect() as conn:
        row = get_task(conn, parsed)
    engine.dispose()
    if row is None:
        click.echo(f"no task {task_id}", err=True)
        sys.exit(1)
    click.echo(json.dumps(task_view(row), indent=2))


main.add_command(dlt)
main.add_command(apikey)
main.add_command(outbox)
