"""The re-drive job on the maintenance lane: runs a re-drive (db/redrives.py) chunk by chunk
at its rate, and hands the lane back every few seconds by sending itself again, so a long
re-drive never holds up the reconciler or the dispatch of scheduled tasks."""

import logging
import time
import uuid

import sqlalchemy as sa
from celery import Celery

from celery_tasks import metrics
from celery_tasks.names import MAINTENANCE_QUEUE, REDRIVE_TASK
from celery_tasks.runtime import WorkerResources
from db import redrive_runs, redrives

log = logging.getLogger(__name__)

# Without a rate, a chunk re-drives this many tasks (one transaction).
DEFAULT_CHUNK = 100
# How long one run works before it sends itself again and frees the lane.
RUN_BUDGET_S = 5.0


def register_redrive(app: Celery, resources: WorkerResources) -> None:
    """Register the re-drive job on `app`."""

    @app.task(name=REDRIVE_TASK, ignore_result=True, acks_late=True)  # type: ignore[untyped-decorator]
    def redrive_task(redrive_id: str) -> str:
        metrics.MAINTENANCE_RUNS.labels(REDRIVE_TASK).inc()
        started = time.monotonic()
        state = "missing"
        while True:
            chunk_started = time.monotonic()
            try:
                with resources.engine.begin() as conn:
                    current = redrives.get(conn, uuid.UUID(redrive_id))
                    if current is None:
                        return state
                    # At a rate, one second's worth per chunk; the pause below spreads them.
                    size = max(1, int(current.rate)) if current.rate else DEFAULT_CHUNK
                    after = redrive_runs.run_chunk(conn, current.id, size)
            except (sa.exc.OperationalError, sa.exc.InterfaceError):
                # The database is away: the reconciler runs this re-drive again once it is
                # back and the re-drive has been quiet for a while.
                raise
            except Exception as err:
                # Anything else would fail the same way on every run: end the re-drive with
                # the reason instead of retrying it forever.
                log.exception("re-drive %s cannot go on", redrive_id)
                with resources.engine.begin() as conn:
                    redrives.fail(conn, uuid.UUID(redrive_id), f"{type(err).__name__}: {err}")
                return "FAILED"
            state = after.state if after else "missing"
            if state not in redrives.ACTIVE:
                log.info("re-drive %s %s", redrive_id, state.lower())
                return state
            if current.rate:
                # `size` tasks at `rate` a second: what the chunk did not take of that, wait.
                time.sleep(max(0.0, size / current.rate - (time.monotonic() - chunk_started)))
            if time.monotonic() - started > RUN_BUDGET_S:
                redrive_task.apply_async(args=[redrive_id], queue=MAINTENANCE_QUEUE)
                return state
