"""Idempotent creation of tasks: the `Idempotency-Key` header of single and batch submits.

The tasks and the key are written in one transaction. A second request with the same key waits
on the key's row until the first commits, then finds it: the same body gets the original tasks
back (200), a different body is a 409. Keys expire after WEBAPP_IDEMPOTENCY_TTL_S.
"""

import dataclasses
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import request

from db.direct import DirectConnection
from db.engine import Engines
from db.idempotency import claim_key, find_key
from db.models import TaskStatus
from db.tasks_repo import InsertedTask, NewTask, insert_tasks
from webapp.errors import BadRequestError, ConflictError

HEADER = "Idempotency-Key"
# Printable ASCII without spaces, as the IETF draft's examples use (UUIDs, ULIDs, hashes).
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass(frozen=True)
class Created:
    """The request created these tasks."""

    tasks: list[InsertedTask]


@dataclass(frozen=True)
class Replayed:
    """An earlier request with the same key and body created these tasks."""

    task_ids: list[uuid.UUID]


class _KeyTakenError(Exception):
    """Rolls back the tasks of a request whose key another request already holds."""


def _claim_or_roll_back(  # noqa: PLR0917 - a private helper; the names are at its one call.
    conn: sa.Connection, tenant: str, key: str, fingerprint: str, ids: list[uuid.UUID], ttl_s: float
) -> None:
    if not claim_key(conn, tenant, key, request_hash=fingerprint, task_ids=ids, ttl_s=ttl_s):
        raise _KeyTakenError


def key_from_request() -> str | None:
    """The request's Idempotency-Key, None when absent; 400 when it is not a safe token."""
    value = request.headers.get(HEADER)
    if value is None:
        return None
    if not KEY_PATTERN.match(value):
        raise BadRequestError(
            f"{HEADER} must be 1-255 printable ASCII characters without spaces", header=HEADER
        )
    return value


def request_hash(kind: str, body: Any) -> str:
    """A fingerprint of what was asked: the endpoint and the body as canonical JSON."""
    canonical = json.dumps([kind, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_tasks(
    engines: Engines,
    new_tasks: Sequence[NewTask],
    *,
    tenant: str | None,
    key: str | None,
    fingerprint: str,
    ttl_s: float,
    wake_relay: Callable[[], None],
    direct: DirectConnection | None = None,
) -> Created | Replayed:
    """Insert the tasks, or return the ones an earlier request with this key created.

    `fingerprint` (request_hash) is only read when there is a key; callers pass "" otherwise.
    A single task without a key goes through `direct` when given (one statement, no
    transaction needed). `wake_relay` is called once the new tasks' outbox rows committed.
    """
    if key is None and len(new_tasks) == 1 and direct is not None:
        # One task is one statement, atomic on its own: no BEGIN and COMMIT round trips.
        return _committed(insert_tasks(direct, new_tasks), wake_relay)
    engine = engines.primary
    if key is None:
        with engine.begin() as conn:
            inserted = insert_tasks(conn, new_tasks)
        return _committed(inserted, wake_relay)
    keyed = [dataclasses.replace(t, idempotency_key=key) for t in new_tasks]
    namespace = tenant or ""
    # Two rounds: a key that expires between our insert and our read is taken over next time.
    for _ in range(2):
        try:
            with engine.begin() as conn:
                inserted = insert_tasks(conn, keyed)
                ids = [t.id for t in inserted]
                _claim_or_roll_back(conn, namespace, key, fingerprint, ids, ttl_s)
            return _committed(inserted, wake_relay)
        except _KeyTakenError:
            pass
        with engine.connect() as conn:
            stored = find_key(conn, namespace, key)
        if stored is None:
            continue
        if stored.request_hash != fingerprint:
            raise ConflictError(
                f"{HEADER} {key[:64]!r} was already used with a different request",
                header=HEADER,
            )
        return Replayed(stored.task_ids)
    raise ConflictError(f"{HEADER} {key[:64]!r} is being reused too quickly; retry", header=HEADER)


def _committed(inserted: list[InsertedTask], wake_relay: Callable[[], None]) -> Created:
    """Tasks whose transaction has committed: wake the relay when some are due now (outside
    the `with` that commits, so the relay's pass can see them)."""
    if any(t.status is TaskStatus.PENDING for t in inserted):
        wake_relay()
    return Created(inserted)
