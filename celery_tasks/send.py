"""Sending the execute task by name, with the task type's limits from the catalog (the bridge
and the tests use it; no handler code is loaded)."""

from collections.abc import Iterator
from contextlib import contextmanager

from celery import Celery
from kombu.messaging import Producer

from celery_tasks.catalog import CATALOG, Catalog
from celery_tasks.names import CORRELATION_HEADER, EXECUTE_TASK, TASKS_QUEUE


def redis_priority(api_priority: int) -> int:
    """Map the API's priority (9 is most urgent) to kombu's Redis one (0 is served first)."""
    return 9 - max(0, min(9, api_priority))


def send_execute(
    app: Celery,
    task_id: str,
    task_type: str,
    *,
    priority: int = 0,
    correlation_id: str | None = None,
    catalog: Catalog = CATALOG,
    producer: Producer | None = None,
) -> str:
    """Queue one execution of a task; returns the Celery message id once the broker has it
    (through a `producer` of `batched`: once the batch's block has ended without an error)."""
    soft, hard = None, None
    if task_type in catalog:
        known = catalog.get(task_type)
        soft, hard = known.soft_time_limit_s, known.time_limit_s
    args = [task_id]
    result = app.send_task(
        EXECUTE_TASK,
        args=args,
        queue=TASKS_QUEUE,
        priority=redis_priority(priority),
        headers={CORRELATION_HEADER: correlation_id} if correlation_id else None,
        soft_time_limit=soft,
        time_limit=hard,
        producer=producer,
        # Two things Celery does per message that cost the bridge a third of its CPU per task
        # (py-spy, samples holding the GIL, during a drain), for nothing here: the repr of the
        # arguments Flower shows, through `saferepr`, of one id (the plain repr is the same
        # text); and declaring the queue, which binds a copy of it to the channel before
        # kombu's cache of declared queues answers that it was declared already. The queue
        # needs no declaring on Redis: the default exchange routes by its name
        # (celery_tasks/config.py, `_queue`), and the workers declare it as they consume.
        argsrepr=repr(args),
        kwargsrepr="{}",
        declare=[],
    )
    return str(result.id)


@contextmanager
def batched(app: Celery, size: int) -> Iterator[Producer]:
    """A producer whose publishes (`send_execute(..., producer=...)`) reach Redis together, in
    one pipeline, when the block ends; an error in the block or at that flush is raised here.

    One round trip for a batch instead of one per message, and one Redis client object instead
    of the one kombu builds for every publish: the two were most of the bridge's CPU per task.
    The pipeline is not a transaction: when the flush fails part of the batch may be queued,
    and the caller sends it all again (the worker's lock and fence absorb the duplicates).
    kombu publishes one by one instead where pipelines are unsafe (retry on timeout set)."""
    with app.producer_or_acquire() as producer, producer.batch(max_size=max(size, 1)):
        yield producer
