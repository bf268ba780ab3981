"""The raw Celery baseline's app: `celery -A raw_celery_app worker`, started by baseline_celery.py.

It has the service's Celery configuration (celery_tasks/config.py: broker transport options,
priority steps, prefetch 1, acks_late) with kombu's own Redis transport, but its own queue, on
the Redis database named by BENCH_RAW_BROKER_URL, and tasks that do nothing but say when they
ran.
"""

import os
import time

from celery import Celery
from kombu.entity import Queue
from redis import Redis

from celery_tasks.config import make_celery
from celery_tasks.settings import BrokerSettings

RAW_QUEUE = "bench-raw"
NOOP_TASK = "bench.noop"
DONE_TASK = "bench.done"
STAMP_TASK = "bench.stamp"
DONE_KEY = "bench:done"
STAMPS_KEY = "bench:stamps"


def make_raw_celery(broker_url: str) -> Celery:
    """A Celery app with the service's configuration, sending to and consuming the bench queue."""
    # kombu's own Redis transport: the baseline is Celery as it ships; raw_celery_batched_app.py
    # adds the service's transport and consumer for the reference row.
    app = make_celery(
        BrokerSettings.from_env(broker_url=broker_url), name="bench_raw", client_per_channel=False
    )
    app.conf.task_default_queue = RAW_QUEUE
    app.conf.task_queues = (Queue(RAW_QUEUE),)  # type: ignore[no-untyped-call]
    return app


app = make_raw_celery(os.environ.get("BENCH_RAW_BROKER_URL", "redis://127.0.0.1:6379/9"))
_redis: list[Redis] = []


def _client() -> Redis:
    # Made on first use, in the prefork child that runs the task, never at import.
    if not _redis:
        _redis.append(Redis.from_url(app.conf.broker_url))
    return _redis[0]


@app.task(name=NOOP_TASK)  # type: ignore[untyped-decorator]
def noop() -> None:
    """Do nothing: the drain measures Celery alone."""


@app.task(name=DONE_TASK)  # type: ignore[untyped-decorator]
def done() -> None:
    """The last message of a drain: record when it ran."""
    _client().rpush(DONE_KEY, time.time())


@app.task(name=STAMP_TASK)  # type: ignore[untyped-decorator]
def stamp(sent_at: float) -> None:
    """Record the milliseconds from the send to the start of this task."""
    _client().rpush(STAMPS_KEY, (time.time() - sent_at) * 1000)
