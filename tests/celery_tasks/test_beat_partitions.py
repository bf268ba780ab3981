"""The partition jobs of Celery beat: scheduled daily on the maintenance queue, and running
them (a direct call, as a worker would) maintains the integration database's partitions."""

from collections.abc import Iterator
from datetime import date

import pytest
import sqlalchemy as sa
from celery import Celery

from celery_tasks.beat import register_beat
from celery_tasks.config import make_celery
from celery_tasks.names import ENSURE_PARTITIONS_TASK, MAINTENANCE_QUEUE, PRUNE_PARTITIONS_TASK
from celery_tasks.runtime import WorkerResources
from celery_tasks.settings import BrokerSettings, WorkerSettings
from db.partitions import create_partition, list_partitions, partition_for
from tests.conftest import TEST_BROKER_URL


@pytest.fixture(scope="module")
def beat_app(it_database_url: str) -> Iterator[Celery]:
    """One app for the module: Celery warns when a name is registered twice in a process."""
    settings = WorkerSettings(
        broker=BrokerSettings(broker_url=TEST_BROKER_URL),
        database_url=it_database_url,
        retention_months=12,
    )
    app = make_celery(settings.broker, settings, name="test-beat")
    resources = WorkerResources(settings)
    register_beat(app, resources)
    yield app
    resources.close()


def test_prune_and_ensure_are_scheduled_on_the_maintenance_queue(beat_app):
    schedule = beat_app.conf.beat_schedule
    assert schedule["prune-partitions"]["task"] == PRUNE_PARTITIONS_TASK
    assert schedule["prune-partitions"]["options"]["queue"] == MAINTENANCE_QUEUE
    assert schedule["ensure-partitions"]["task"] == ENSURE_PARTITIONS_TASK


def test_prune_job_drops_months_past_retention(beat_app, engine):
    old = partition_for(date(2016, 6, 1))
    with engine.begin() as conn:
        create_partition(conn, old)
    dropped = beat_app.tasks[PRUNE_PARTITIONS_TASK]()
    ensured = beat_app.tasks[ENSURE_PARTITIONS_TASK]()
    with engine.connect() as conn:
        names = {p.name for p in list_partitions(conn)}
        conn.execute(sa.text(f'DROP TABLE IF EXISTS "{old.name}"'))
        conn.commit()
    assert old.name in dropped
    assert old.name not in names
    assert ensured == []  # the migration already made this month and the next three
