"""The worker's finishing writes of an attempt: complete, retry later, fail + DLT record.

Every one is fenced on the attempt's lease token (db/execution.py), so an attempt whose lease
was taken over can never overwrite the newer attempt's outcome.
"""

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from db import outbox
from db.execution import CLAIMABLE, Claim, key_of
from db.models import TaskStatus, task_effects_table, tasks_table

t = tasks_table


def _complete_statement() -> sa.Insert:
    done = (
        sa.update(t)
        .where(
            t.c.id == sa.bindparam("b_task_id"),
            t.c.created_at == sa.bindparam("b_created_at"),
            t.c.lease_token == sa.bindparam("token"),
            t.c.status == TaskStatus.PROCESSING.value,
        )
        .values(
            status=TaskStatus.COMPLETED.value,
            result=sa.bindparam("result", type_=JSONB(none_as_null=True)),
            finished_at=sa.func.now(),
            updated_at=sa.func.now(),
            lease_token=None,
            lease_expires_at=None,
            lease_owner=None,
            last_error=None,
            error_type=None,
        )
        .returning(t.c.id, t.c.created_at)
        .cte("done")
    )
    e = task_effects_table
    return (
        sa.insert(e)
        .from_select(
            [e.c.task_id, e.c.task_created_at, e.c.attempt, e.c.effect],
            sa.select(
                done.c.id,
                done.c.created_at,
                sa.bindparam("attempt", type_=sa.Integer),
                sa.bindparam("effect", type_=JSONB),
            ),
        )
        .returning(e.c.task_id)
    )


# Built once: a worker completes every task it runs (see db/execution.py, _claim_statement).
_COMPLETE = _complete_statement()


def complete_task(
    conn: sa.Connection, claim: Claim, result: dict[str, Any] | None, effect: dict[str, Any]
) -> bool:
    """Store COMPLETED and the handler's side effect; False when the lease was lost.

    One statement (the side effect is inserted from the UPDATE's RETURNING), so it is atomic
    on its own and costs one round trip, also outside a transaction.
    """
    params = {
        "b_task_id": claim.task_id,
        "b_created_at": claim.created_at,
        "token": claim.lease_token,
        "result": result,
        "attempt": claim.attempt,
        "effect": effect,
    }
    return conn.execute(_COMPLETE, params).first() is not None


def schedule_retry(
    conn: sa.Connection, claim: Claim, error: str, error_type: str, delay_s: float
) -> TaskStatus | None:
    """Store RETRYING with the error and the next attempt's time; None when the lease was lost.

    A task whose cancellation was requested during the attempt becomes CANCELLED instead, so
    the next attempt never starts.
    """
    cancelled = TaskStatus.CANCELLED.value
    stmt = (
        sa.update(t)
        .where(key_of(claim.task_id), t.c.lease_token == claim.lease_token)
        .where(t.c.status == TaskStatus.PROCESSING.value)
        .values(
            status=sa.case((t.c.cancel_requested, cancelled), else_=TaskStatus.RETRYING.value),
            last_error=error,
            error_type=error_type,
            next_attempt_at=sa.case(
                (t.c.cancel_requested, None), else_=sa.func.now() + timedelta(seconds=delay_s)
            ),
            finished_at=sa.case((t.c.cancel_requested, sa.func.now()), else_=None),
            updated_at=sa.func.now(),
            lease_token=None,
            lease_expires_at=None,
            lease_owner=None,
        )
        .returning(t.c.status)
    )
    row = conn.execute(stmt).first()
    return TaskStatus(row.status) if row else None


def fail_task(
    conn: sa.Connection,
    task_id: uuid.UUID,
    lease_token: uuid.UUID | None,
    error: str,
    error_type: str,
) -> bool:
    """Store FAILED and queue the DLT record in the same transaction; False when fenced out.

    `lease_token` is the attempt's token; the reconciler passes the token it read from a row
    whose lease expired, so a concurrent new attempt still wins.
    """
    fence = t.c.lease_token == lease_token if lease_token else t.c.lease_token.is_(None)
    stmt = (
        sa.update(t)
        .where(key_of(task_id), fence)
        .where(t.c.status.in_([*CLAIMABLE, TaskStatus.PROCESSING.value]))
        .values(
            status=TaskStatus.FAILED.value,
            last_error=error,
            error_type=error_type,
            finished_at=sa.func.now(),
            updated_at=sa.func.now(),
            lease_token=None,
            lease_expires_at=None,
            lease_owner=None,
            next_attempt_at=None,
        )
        .returning(t)
    )
    row = conn.execute(stmt).mappings().first()
    if row is None:
        return False
    outbox.enqueue(conn, [outbox.dlt_row(dict(row))])
    return True
