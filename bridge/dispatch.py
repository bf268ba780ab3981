"""The bridge's dispatch: a batch of `tasks` records becomes execute messages in one pipeline."""

from collections.abc import Sequence

from celery import Celery

from bridge.consumer import Dispatch
from celery_tasks.send import batched, send_execute
from db.wire import TaskRecord


def celery_dispatch(app: Celery) -> Dispatch:
    """Send each record's execute message through `app`, the batch's publishes together
    (celery_tasks/send.py `batched`); the message ids once Redis has them all."""

    def dispatch(records: Sequence[TaskRecord]) -> list[str]:
        with batched(app, len(records)) as producer:
            return [
                send_execute(
                    app,
                    record.task_id,
                    record.type,
                    priority=record.priority,
                    correlation_id=record.correlation_id,
                    producer=producer,
                )
                for record in records
            ]

    return dispatch
