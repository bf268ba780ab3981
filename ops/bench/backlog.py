"""Whether the stack still has work it was given before a measurement started, and the wait
until it has none: the bench (run.py) and bench-costs (costs.py) both start from an idle stack.
"""

import time
from collections.abc import Callable

import sqlalchemy as sa

from db.models import TaskStatus
from db.outbox import backlog as outbox_backlog
from db.queue_health import tasks_by_status
from stack import StackError

# How long a run waits for the stack to finish work it was given before the run started.
BACKLOG_WAIT_S = 900.0
# Statuses of tasks the stack still has to run now (SCHEDULED ones are not due).
UNFINISHED = (TaskStatus.PENDING, TaskStatus.PROCESSING, TaskStatus.RETRYING)


def backlog(conn: sa.Connection) -> int:
    """Tasks the stack still has to run: outbox rows not published yet (parked ones wait for
    an operator), and tasks pending, running or waiting for a retry (scheduled ones are not
    due, so they do not count). The queue-health gauges' own queries count them."""
    waiting, _age_s, _parked = outbox_backlog(conn)
    counts = tasks_by_status(conn)
    return waiting + sum(counts[status.value] for status in UNFINISHED)


def wait_for_no_backlog(
    database_url: str, say: Callable[[str], None], timeout_s: float = BACKLOG_WAIT_S
) -> None:
    """Start the phases on a stack with nothing left to do. Work submitted before the run (a
    load test, an earlier run cut short) would otherwise be drained inside the first measured
    drain: one such run measured a drain of 17 tasks/s and 53 ms of worker CPU per task."""
    deadline = time.monotonic() + timeout_s
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            left = backlog(conn)
            if left:
                say(f"project: waiting for the stack to run the {left} tasks it has")
            while left:
                if time.monotonic() > deadline:
                    raise StackError(
                        f"the stack still has {left} tasks to run after {timeout_s:.0f} s; "
                        "a drain measured now would include them (is the worker running?)"
                    )
                # Each count in a transaction of its own: an open one would hold back vacuum.
                conn.rollback()
                time.sleep(1.0)
                left = backlog(conn)
    finally:
        engine.dispose()
