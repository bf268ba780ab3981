"""Sending the execute task by name, with the task type's limits from the catalog (the bridge
and the tests use it; no handler code is loaded)."""

from celery import Celery

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
) -> str:
    """Queue one execution of a task; returns the Celery message id once the broker has it."""
    soft, hard = None, None
    if task_type in catalog:
        known = catalog.get(task_type)
        soft, hard = known.soft_time_limit_s, known.time_limit_s
    result = app.send_task(
        EXECUTE_TASK,
        args=[task_id],
        queue=TASKS_QUEUE,
        priority=redis_priority(priority),
        headers={CORRELATION_HEADER: correlation_id} if correlation_id else None,
        soft_time_limit=soft,
        time_limit=hard,
    )
    return str(result.id)
