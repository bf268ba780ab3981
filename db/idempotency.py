"""Idempotency keys: one row per (tenant, key), written in the transaction that creates tasks."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from db.models import idempotency_keys_table

i = idempotency_keys_table


@dataclass(frozen=True)
class StoredRequest:
    """The first request made with a key: its body's hash and the tasks it created."""

    request_hash: str
    task_ids: list[uuid.UUID]


def claim_key(
    conn: sa.Connection,
    tenant: str,
    key: str,
    *,
    request_hash: str,
    task_ids: Sequence[uuid.UUID],
    ttl_s: float,
) -> bool:
    """Record the key for these tasks; False when a live row already holds it.

    A concurrent transaction holding the same key makes this statement wait until that one
    commits or rolls back, so two identical requests can never both create tasks. An expired
    row is taken over in place.
    """
    expires = sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, ttl_s)
    insert = pg_insert(i).values(
        tenant=tenant,
        key=key,
        request_hash=request_hash,
        task_ids=list(task_ids),
        created_at=sa.func.now(),
        expires_at=expires,
    )
    stmt = insert.on_conflict_do_update(
        index_elements=[i.c.tenant, i.c.key],
        set_={
            "request_hash": insert.excluded.request_hash,
            "task_ids": insert.excluded.task_ids,
            "created_at": insert.excluded.created_at,
            "expires_at": insert.excluded.expires_at,
        },
        where=i.c.expires_at <= sa.func.now(),
    ).returning(i.c.key)
    return conn.execute(stmt).first() is not None


def find_key(conn: sa.Connection, tenant: str, key: str) -> StoredRequest | None:
    """The live (unexpired) request stored under a key, or None."""
    row = conn.execute(
        sa.select(i.c.request_hash, i.c.task_ids).where(
            i.c.tenant == tenant, i.c.key == key, i.c.expires_at > sa.func.now()
        )
    ).first()
    return StoredRequest(row.request_hash, list(row.task_ids)) if row else None


def purge_expired(conn: sa.Connection, batch: int = 5000) -> int:
    """Delete up to `batch` expired keys; returns how many were deleted (the caller repeats,
    one transaction per batch, until fewer than `batch` are left)."""
    doomed = sa.select(i.c.tenant, i.c.key).where(i.c.expires_at <= sa.func.now()).limit(batch)
    stmt = sa.delete(i).where(sa.tuple_(i.c.tenant, i.c.key).in_(doomed))
    return conn.execute(stmt).rowcount
