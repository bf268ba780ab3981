"""API keys: create (the key is returned once, only its hash is stored), find, list, revoke."""

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from db.models import api_keys_table

k = api_keys_table

KEY_PREFIX = "tsk_"
SCOPES = ("submit", "read", "admin")


@dataclass(frozen=True)
class ApiKeyRecord:
    """What the service knows about a key (never the key itself)."""

    id: uuid.UUID
    name: str
    tenant: str
    scopes: tuple[str, ...]
    key_prefix: str
    rate_limit: str | None
    created_at: datetime
    revoked_at: datetime | None


def hash_key(key: str) -> str:
    """SHA-256 of a key, hex encoded: what the table stores and lookups compare."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh random key: a recognisable prefix and 256 random bits."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _record(m: sa.RowMapping) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=m["id"],
        name=m["name"],
        tenant=m["tenant"],
        scopes=tuple(m["scopes"]),
        key_prefix=m["key_prefix"],
        rate_limit=m["rate_limit"],
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
    )


_COLUMNS = (
    k.c.id,
    k.c.name,
    k.c.tenant,
    k.c.scopes,
    k.c.key_prefix,
    k.c.rate_limit,
    k.c.created_at,
    k.c.revoked_at,
)


def create_key(
    conn: sa.Connection,
    *,
    name: str,
    tenant: str,
    scopes: Sequence[str],
    rate_limit: str | None = None,
    key: str | None = None,
) -> tuple[str, ApiKeyRecord]:
    """Store a new key's hash; returns the key (shown once) and its record."""
    key = key or new_key()
    row = conn.execute(
        sa.insert(k)
        .values(
            id=uuid.uuid4(),
            name=name,
            tenant=tenant,
            scopes=list(scopes),
            key_hash=hash_key(key),
            key_prefix=key[: len(KEY_PREFIX) + 6],
            rate_limit=rate_limit,
            created_at=sa.func.now(),
        )
        .returning(*_COLUMNS)
    ).one()
    return key, _record(row._mapping)


def find_active_key(conn: sa.Connection, key: str) -> ApiKeyRecord | None:
    """The unrevoked key with this value, or None."""
    row = conn.execute(
        sa.select(*_COLUMNS).where(k.c.key_hash == hash_key(key), k.c.revoked_at.is_(None))
    ).first()
    return _record(row._mapping) if row else None


def find_active_key_by_id(conn: sa.Connection, key_id: uuid.UUID) -> ApiKeyRecord | None:
    """The unrevoked key with this id, or None (the web console's session holds only the id)."""
    row = conn.execute(
        sa.select(*_COLUMNS).where(k.c.id == key_id, k.c.revoked_at.is_(None))
    ).first()
    return _record(row._mapping) if row else None


def list_keys(conn: sa.Connection, tenant: str | None = None) -> list[ApiKeyRecord]:
    """Every key (revoked ones too), oldest first, optionally of one tenant."""
    stmt = sa.select(*_COLUMNS).order_by(k.c.created_at, k.c.id)
    if tenant is not None:
        stmt = stmt.where(k.c.tenant == tenant)
    return [_record(r._mapping) for r in conn.execute(stmt)]


def revoke_key(conn: sa.Connection, key_id: uuid.UUID) -> bool:
    """Revoke a key by id; False when no active key has that id."""
    stmt = (
        sa.update(k)
        .where(k.c.id == key_id, k.c.revoked_at.is_(None))
        .values(revoked_at=sa.func.now())
    )
    return conn.execute(stmt).rowcount == 1
