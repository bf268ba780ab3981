"""Attempt history: one `task_attempts` row per attempt, started in the claim's statement and
finished in the statement or transaction that records the attempt's outcome, so the history
can never disagree with the task row."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from db.ids import created_at_of
from db.models import task_attempts_table

a = task_attempts_table

RUNNING = "running"
OUTCOMES = ("running", "completed", "retried", "failed", "lost", "cancelled")
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Attempt:
    """One attempt of a task and how it ended (outcome `running` while it runs); `run` counts
    the task's re-drives before it (0: its first run)."""

    run: int
    attempt: int
    worker: str | None
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    error_type: str | None
    error: str | None
    duration_s: float | None

    def view(self) -> dict[str, Any]:
        """The attempt as plain JSON values."""
        return {
            "run": self.run,
            "attempt": self.attempt,
            "worker": self.worker,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "outcome": self.outcome,
            "error_type": self.error_type,
            "error": self.error,
            "duration_s": self.duration_s,
        }


def _duration() -> sa.ColumnElement[Any]:
    return sa.func.extract("epoch", sa.func.now() - a.c.started_at)


def finish(
    conn: sa.Connection,
    task_id: uuid.UUID,
    outcome: str,
    error_type: str | None = None,
    error: str | None = None,
) -> int:
    """Finish the task's running attempt (in the caller's transaction); returns rows updated."""
    stmt = (
        sa.update(a)
        .where(
            a.c.task_id == task_id,
            a.c.task_created_at == created_at_of(task_id),
            a.c.outcome == RUNNING,
        )
        .values(
            outcome=outcome,
            finished_at=sa.func.now(),
            duration_s=_duration(),
            error_type=error_type,
            error=error[:MAX_ERROR_CHARS] if error else None,
        )
    )
    return conn.execute(stmt).rowcount


def attempts_of(conn: sa.Connection, task_id: uuid.UUID) -> list[Attempt]:
    """Every attempt of a task, first one first."""
    rows = conn.execute(
        sa.select(a)
        .where(a.c.task_id == task_id, a.c.task_created_at == created_at_of(task_id))
        .order_by(a.c.run, a.c.attempt)
    )
    return [
        Attempt(
            run=r.run,
            attempt=r.attempt,
            worker=r.worker,
            started_at=r.started_at,
            finished_at=r.finished_at,
            outcome=r.outcome,
            error_type=r.error_type,
            error=r.error,
            duration_s=r.duration_s,
        )
        for r in rows
    ]
