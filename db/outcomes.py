"""The worker's finishing writes of an attempt: complete, retry later, fail + DLT record.

Every one is fenced on the attempt's lease token (db/execution.py), so an attempt whose lease
was taken over can never overwrite the newer attempt's outcome.
"""

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from psycopg.types.json import Jsonb

from db import attempts, outbox, webhooks
from db.direct import Connection, fetch_one
from db.execution import CLAIMABLE, Claim, key_of
from db.models import TaskStatus, status_in, tasks_table

t = tasks_table

WORKER_LOST = "WorkerLostError"


# The completion as one statement, written for the driver so the worker runs it on its direct
# connection (db/direct.py): the task becomes COMPLETED under its lease token, and from the
# UPDATE's RETURNING the side effect, the end of the attempt and the webhook deliveries are
# written, so it is atomic on its own and costs one round trip outside a transaction.
# `(status = 'PROCESSING') IS TRUE` says the same as the plain comparison, in a form that does
# not match the partial index on active statuses (db/models.py, `status_in`): with the plain
# form the generic plan (the worker plans each statement once, db/direct.py) walked that
# index's PROCESSING entries, live and dead, instead of looking the one row up by its key.
COMPLETE_SQL = """
    WITH done AS (
        UPDATE tasks SET status = 'COMPLETED', result = %(result)s, finished_at = now(),
            updated_at = now(), lease_token = NULL, lease_expires_at = NULL,
            lease_owner = NULL, last_error = NULL, error_type = NULL
        WHERE id = %(task_id)s AND created_at = %(created_at)s AND lease_token = %(token)s
            AND (status = 'PROCESSING') IS TRUE
        RETURNING id, created_at, type, status, attempts, result, last_error, error_type,
            correlation_id, finished_at, tenant, callback_url
    ), attempt_finished AS (
        UPDATE task_attempts a SET outcome = 'completed', finished_at = now(),
            duration_s = extract(epoch FROM now() - a.started_at)
        FROM done
        WHERE a.task_id = done.id AND a.task_created_at = %(created_at)s
            AND a.outcome = 'running'
        RETURNING a.attempt
    ), deliveries AS (
        INSERT INTO webhook_deliveries (id, task_id, task_created_at, tenant, url, event,
            payload)
        SELECT gen_random_uuid(), done.id, done.created_at, done.tenant,
            coalesce(done.callback_url, w.url), 'task.completed',
            jsonb_build_object('type', 'task.completed', 'timestamp', now(), 'data',
                jsonb_build_object('id', done.id::text, 'type', done.type,
                    'status', done.status, 'attempts', done.attempts, 'result', done.result,
                    'error', done.last_error, 'error_type', done.error_type,
                    'correlation_id', done.correlation_id, 'created_at', done.created_at,
                    'finished_at', done.finished_at))
        FROM done LEFT JOIN tenant_webhooks w ON w.tenant = coalesce(done.tenant, '')
        WHERE coalesce(done.callback_url, w.url) IS NOT NULL
        RETURNING id
    )
    INSERT INTO task_effects (task_id, task_created_at, attempt, effect)
    SELECT done.id, done.created_at, %(attempt)s, %(effect)s FROM done
    RETURNING task_id
"""


def complete_task(
    conn: Connection, claim: Claim, result: dict[str, Any] | None, effect: dict[str, Any]
) -> bool:
    """Store COMPLETED and the handler's side effect; False when the lease was lost."""
    params = {
        "task_id": claim.task_id,
        "created_at": claim.created_at,
        "token": claim.lease_token,
        "result": None if result is None else Jsonb(result),
        "attempt": claim.attempt,
        "effect": Jsonb(effect),
    }
    return fetch_one(conn, COMPLETE_SQL, params) is not None


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
        .where(status_in(TaskStatus.PROCESSING.value))
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
    if row is None:
        return None
    status = TaskStatus(row.status)
    outcome = "cancelled" if status is TaskStatus.CANCELLED else "retried"
    attempts.finish(conn, claim.task_id, outcome, error_type, error)
    if status is TaskStatus.CANCELLED:
        webhooks.enqueue_for(conn, [(claim.task_id, claim.created_at)])
    return status


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
        .where(status_in(*CLAIMABLE, TaskStatus.PROCESSING.value))
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
    # A worker that died with the attempt lost it; any other failure is the handler's.
    outcome = "lost" if error_type == WORKER_LOST else "failed"
    attempts.finish(conn, task_id, outcome, error_type, error)
    webhooks.enqueue_for(conn, [(row["id"], row["created_at"])])
    return True
