"""Completion webhooks against the real PostgreSQL (test database) and a real local receiver:
written with the outcome, signed, retried after failures, failed for good after their time,
never sent for an outcome that was rolled back."""

import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from db import webhooks
from db.execution import claim_task
from db.outcomes import complete_task, fail_task
from db.tasks_repo import NewTask, insert_tasks
from relay.settings import RelaySettings
from relay.webhooks import WebhookSender
from tests.webhook_receiver import Receiver, verify_signature


@pytest.fixture
def receiver(engine: sa.Engine) -> Iterator[Receiver]:
    # Deliveries other tests left behind would be sent to receivers that are gone.
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM webhook_deliveries"))
    found = Receiver([])
    yield found
    found.close()


def _sender(engine: sa.Engine, **overrides: object) -> tuple[WebhookSender, httpx.Client]:
    fields: dict[str, object] = {
        "webhooks_allow_private": True,
        "webhook_retry_base_s": 0.05,
        "webhook_retry_max_s": 0.1,
        **overrides,
    }
    settings = RelaySettings(**fields)  # type: ignore[arg-type]
    client = httpx.Client(timeout=2)
    return WebhookSender(engine, client, settings), client


def _completed_task(engine: sa.Engine, url: str | None, tenant: str) -> uuid.UUID:
    with engine.begin() as conn:
        (task,) = insert_tasks(
            conn, [NewTask("echo", {"n": 1}, max_attempts=4, tenant=tenant, callback_url=url)]
        )
        claim = claim_task(conn, task.id, 30, "test-host/t:1")
        assert claim is not None
        assert complete_task(conn, claim, {"echo": 1}, {"n": 1})
    return task.id


def _drain(sender: WebhookSender, until: float = 10.0) -> None:
    deadline = time.monotonic() + until
    while time.monotonic() < deadline:
        sender.step()
        with sender.engine.connect() as conn:
            pending, _ = webhooks.pending_count(conn)
        if pending == 0:
            return
        time.sleep(0.1)


def test_a_completed_task_is_posted_once_signed_after_two_failures(engine, receiver):
    receiver.statuses = [500, 503]
    tenant = f"wh-{uuid.uuid4().hex[:8]}"
    task_id = _completed_task(engine, receiver.url, tenant)
    sender, client = _sender(engine)
    try:
        _drain(sender)
    finally:
        client.close()
    assert [r[2] for r in receiver.requests] == [500, 503, 204]
    (accepted,) = receiver.accepted()
    headers, body, _ = accepted
    with engine.begin() as conn:
        secret = webhooks.ensure_tenant(conn, tenant)["secret"]
        (delivery,) = webhooks.deliveries_of(conn, task_id)
    assert verify_signature(secret, headers, body)
    # Every try of one delivery carries the same id, so a receiver can drop repeats.
    assert len({r[0]["webhook-id"] for r in receiver.requests}) == 1
    sent = json.loads(body)
    assert sent["type"] == "task.completed"
    assert sent["data"]["id"] == str(task_id)
    assert sent["data"]["result"] == {"echo": 1}
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 3, 204)


def test_a_delivery_that_keeps_failing_is_failed_for_good_after_its_time(engine, receiver):
    receiver.statuses = [500] * 1000
    task_id = _completed_task(engine, receiver.url, f"wh-{uuid.uuid4().hex[:8]}")
    sender, client = _sender(engine, webhook_max_age_s=1.0)
    try:
        _drain(sender, until=15)
    finally:
        client.close()
    with engine.connect() as conn:
        (delivery,) = webhooks.deliveries_of(conn, task_id)
    assert delivery.state == "failed"
    assert delivery.attempts >= 2
    assert delivery.last_error == "HTTP 500"


def test_a_rolled_back_outcome_sends_nothing(engine, receiver):
    tenant = f"wh-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        (task,) = insert_tasks(
            conn, [NewTask("fail", {}, max_attempts=1, tenant=tenant, callback_url=receiver.url)]
        )
        claim = claim_task(conn, task.id, 30, "test-host/t:1")
    assert claim is not None
    with pytest.raises(RuntimeError), engine.begin() as conn:
        assert fail_task(conn, task.id, claim.lease_token, "boom", "PermanentError")
        raise RuntimeError("the transaction that ended the task rolls back")
    with engine.connect() as conn:
        assert webhooks.deliveries_of(conn, task.id) == []
    sender, client = _sender(engine)
    try:
        sender.step()
    finally:
        client.close()
    assert receiver.requests == []


def test_the_tenant_default_url_is_used_and_a_private_target_is_refused_at_delivery(
    engine, receiver
):
    tenant = f"wh-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        webhooks.set_default_url(conn, tenant, receiver.url)
    task_id = _completed_task(engine, None, tenant)
    sender, client = _sender(engine, webhooks_allow_private=False, webhook_max_age_s=0.5)
    try:
        _drain(sender, until=10)
    finally:
        client.close()
    with engine.connect() as conn:
        (delivery,) = webhooks.deliveries_of(conn, task_id)
    assert delivery.url == receiver.url
    assert delivery.state == "failed"
    assert "loopback" in (delivery.last_error or "")
    assert receiver.requests == []
