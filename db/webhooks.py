"""Completion webhooks: deliveries written in the transaction that ends a task (an outbox for
HTTP, so a committed outcome is never left undelivered and a rolled-back one is never sent),
claimed and settled by the relay, and each tenant's default URL and signing secret."""

import base64
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from db.models import TaskStatus, tasks_table, tenant_webhooks_table, webhook_deliveries_table

t = tasks_table
w = tenant_webhooks_table
d = webhook_deliveries_table

# The tenant key of tasks submitted with authentication off.
NO_TENANT = ""
TERMINAL = (TaskStatus.COMPLETED.value, TaskStatus.FAILED.value, TaskStatus.CANCELLED.value)


@dataclass(frozen=True)
class Delivery:
    """A webhook to send (or sent): where, what, and how it went so far."""

    id: uuid.UUID
    task_id: uuid.UUID
    tenant: str | None
    url: str
    event: str
    payload: dict[str, Any]
    state: str
    attempts: int
    created_at: datetime
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None

    def view(self) -> dict[str, Any]:
        """The delivery as plain JSON values."""
        return {
            "id": str(self.id),
            "url": self.url,
            "event": self.event,
            "state": self.state,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "created_at": self.created_at.isoformat(),
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
        }


def new_secret() -> str:
    """A signing secret in the Standard Webhooks format: `whsec_` and 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def secret_bytes(secret: str) -> bytes:
    """The key a `whsec_` secret stands for."""
    return base64.b64decode(secret.removeprefix("whsec_"))


def ensure_tenant(conn: sa.Connection, tenant: str | None) -> dict[str, Any]:
    """The tenant's webhook settings, created with a fresh secret on first use."""
    key = tenant or NO_TENANT
    conn.execute(
        pg_insert(w)
        .values(tenant=key, secret=new_secret(), created_at=sa.func.now(), updated_at=sa.func.now())
        .on_conflict_do_nothing(index_elements=[w.c.tenant])
    )
    row = conn.execute(sa.select(w).where(w.c.tenant == key)).mappings().one()
    return dict(row)


def set_default_url(conn: sa.Connection, tenant: str | None, url: str | None) -> dict[str, Any]:
    """Register (or with None, remove) the tenant's default callback URL."""
    ensure_tenant(conn, tenant)
    conn.execute(
        sa.update(w)
        .where(w.c.tenant == (tenant or NO_TENANT))
        .values(url=url, updated_at=sa.func.now())
    )
    return ensure_tenant(conn, tenant)


def rotate_secret(conn: sa.Connection, tenant: str | None) -> dict[str, Any]:
    """Give the tenant a new signing secret (deliveries from now on use it)."""
    ensure_tenant(conn, tenant)
    conn.execute(
        sa.update(w)
        .where(w.c.tenant == (tenant or NO_TENANT))
        .values(secret=new_secret(), updated_at=sa.func.now())
    )
    return ensure_tenant(conn, tenant)


def delivery_select(source: Any) -> sa.Select[Any]:
    """The deliveries of the ended tasks `source` yields (a CTE or the tasks table filtered):
    one per task that has a callback URL of its own or a tenant default."""
    url = sa.func.coalesce(source.c.callback_url, w.c.url)
    data = sa.func.jsonb_build_object(
        "id",
        sa.cast(source.c.id, sa.Text),
        "type",
        source.c.type,
        "status",
        source.c.status,
        "attempts",
        source.c.attempts,
        "result",
        source.c.result,
        "error",
        source.c.last_error,
        "error_type",
        source.c.error_type,
        "correlation_id",
        source.c.correlation_id,
        "created_at",
        source.c.created_at,
        "finished_at",
        source.c.finished_at,
    )
    event = sa.literal("task.") + sa.func.lower(source.c.status)
    payload = sa.func.jsonb_build_object("type", event, "timestamp", sa.func.now(), "data", data)
    return (
        sa.select(
            sa.func.gen_random_uuid(),
            source.c.id,
            source.c.created_at,
            source.c.tenant,
            url,
            event,
            payload,
        )
        .select_from(
            source.outerjoin(w, w.c.tenant == sa.func.coalesce(source.c.tenant, NO_TENANT))
        )
        .where(url.is_not(None))
    )


DELIVERY_COLUMNS = ("id", "task_id", "task_created_at", "tenant", "url", "event", "payload")


def deliveries_cte(done: sa.CTE) -> sa.CTE:
    """An INSERT of the deliveries of `done`, to add to a single-statement outcome."""
    return (
        sa.insert(d)
        # The table's own defaults (state, attempts, times), not the model's Python ones.
        .from_select(
            [d.c[c] for c in DELIVERY_COLUMNS], delivery_select(done), include_defaults=False
        )
        .returning(d.c.id)
        .cte("deliveries")
    )


def enqueue_for(conn: sa.Connection, keys: Sequence[tuple[uuid.UUID, datetime]]) -> int:
    """Write the deliveries of these tasks, which the caller's transaction has just ended."""
    if not keys:
        return 0
    ended = (
        sa.select(t)
        .where(sa.tuple_(t.c.id, t.c.created_at).in_(list(keys)), t.c.status.in_(TERMINAL))
        .subquery("ended")
    )
    stmt = sa.insert(d).from_select(
        [d.c[c] for c in DELIVERY_COLUMNS], delivery_select(ended), include_defaults=False
    )
    return conn.execute(stmt).rowcount


def _delivery(r: Any) -> Delivery:
    return Delivery(
        id=r.id,
        task_id=r.task_id,
        tenant=r.tenant,
        url=r.url,
        event=r.event,
        payload=r.payload,
        state=r.state,
        attempts=r.attempts,
        created_at=r.created_at,
        last_status=r.last_status,
        last_error=r.last_error,
        delivered_at=r.delivered_at,
    )


def claim_due(conn: sa.Connection, limit: int) -> list[tuple[Delivery, str]]:
    """Lock up to `limit` due deliveries (other relays skip them) with their signing secret."""
    rows = conn.execute(
        sa.select(d, w.c.secret)
        .select_from(d.outerjoin(w, w.c.tenant == sa.func.coalesce(d.c.tenant, NO_TENANT)))
        .where(d.c.state == "pending", d.c.next_attempt_at <= sa.func.now())
        .order_by(d.c.next_attempt_at)
        .limit(limit)
        .with_for_update(of=d, skip_locked=True)
    )
    taken = []
    for r in rows:
        # A tenant's first delivery creates its secret, which its admins then read from
        # GET /api/webhooks.
        secret = r.secret or ensure_tenant(conn, r.tenant)["secret"]
        taken.append((_delivery(r), str(secret)))
    return taken


def hide_for(conn: sa.Connection, delivery_id: uuid.UUID, seconds: float) -> None:
    """Push a taken delivery's next try ahead while it is being sent (its lease)."""
    conn.execute(
        sa.update(d)
        .where(d.c.id == delivery_id)
        .values(next_attempt_at=sa.func.now() + sa.func.make_interval(0, 0, 0, 0, 0, 0, seconds))
    )


def settle(
    conn: sa.Connection,
    delivery_id: uuid.UUID,
    *,
    delivered: bool,
    status: int | None,
    error: str | None,
    retry_in_s: float | None,
) -> None:
    """Record one try: delivered, to be retried in `retry_in_s`, or (None) failed for good."""
    values: dict[str, Any] = {
        "attempts": d.c.attempts + 1,
        "last_status": status,
        "last_error": error[:2000] if error else None,
    }
    if delivered:
        values.update(state="delivered", delivered_at=sa.func.now())
    elif retry_in_s is None:
        values["state"] = "failed"
    else:
        values["next_attempt_at"] = sa.func.now() + sa.func.make_interval(
            0, 0, 0, 0, 0, 0, retry_in_s
        )
    conn.execute(sa.update(d).where(d.c.id == delivery_id).values(**values))


def deliveries_of(conn: sa.Connection, task_id: uuid.UUID) -> list[Delivery]:
    """Every webhook delivery of a task, oldest first."""
    rows = conn.execute(sa.select(d).where(d.c.task_id == task_id).order_by(d.c.created_at))
    return [_delivery(r) for r in rows]


def pending_count(conn: sa.Connection) -> tuple[int, int]:
    """Deliveries waiting to be sent, and deliveries that failed for good."""
    row = conn.execute(
        sa.select(
            sa.func.count().filter(d.c.state == "pending"),
            sa.func.count().filter(d.c.state == "failed"),
        )
    ).one()
    return int(row[0]), int(row[1])
