"""Completion webhooks: the relay sends the deliveries the outcome transactions wrote.

A delivery is taken with a short lease (its next try moved a minute ahead and committed), sent
outside any transaction, then settled: delivered on a 2xx, else retried with exponential
backoff and jitter until `webhook_max_age_s` has passed since the task ended, then failed for
good (counted, and shown by `GET /api/tasks/<id>/webhooks`). A relay that dies mid-send leaves
the lease to expire and another try to happen: delivery is at least once, and the receiver
tells repeats apart by `webhook-id` (the Standard Webhooks scheme, which the signature follows).
"""

import base64
import hashlib
import hmac
import json
import logging
import random
import threading
import time
from datetime import UTC, datetime

import httpx
import sqlalchemy as sa

from db import webhooks
from relay import metrics
from relay.settings import RelaySettings
from taskkit.loop import ProcessLoop
from taskkit.urlsafety import target_problem

log = logging.getLogger("relay.webhooks")

# How long a taken delivery is hidden from other relays while it is being sent.
SEND_LEASE_S = 60.0


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: `v1,` and the base64 HMAC-SHA256 of "id.timestamp.body"."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(webhooks.secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def retry_delay_s(attempts: int, base_s: float, max_s: float) -> float:
    """Seconds before the next try after `attempts` failed ones (equal jitter, growing)."""
    backoff = float(min(max_s, base_s * 2 ** max(attempts - 1, 0)))
    return backoff / 2 + random.uniform(0, backoff / 2)


class WebhookSender:
    """Takes due deliveries from PostgreSQL and POSTs them, signed."""

    def __init__(self, engine: sa.Engine, client: httpx.Client, settings: RelaySettings) -> None:
        self.engine = engine
        self.client = client
        self.settings = settings

    def step(self) -> float:
        """Send one batch; seconds to wait before the next (none while a full batch came)."""
        with self.engine.begin() as conn:
            due = webhooks.claim_due(conn, self.settings.webhook_batch)
            for delivery, _ in due:
                webhooks.hide_for(conn, delivery.id, SEND_LEASE_S)
        for delivery, secret in due:
            self.send(delivery, secret)
        if len(due) >= self.settings.webhook_batch:
            return 0.0
        return self.settings.webhook_poll_interval_s

    def send(self, delivery: webhooks.Delivery, secret: str) -> None:
        """One try of one delivery, then its settlement."""
        status: int | None = None
        error: str | None = None
        problem = target_problem(delivery.url, allow_private=self.settings.webhooks_allow_private)
        if problem is not None:
            # Checked again at each try: the host may resolve elsewhere than when accepted.
            error = f"refused: the callback URL {problem}"
        else:
            body = json.dumps(delivery.payload, separators=(",", ":")).encode()
            message_id = f"msg_{delivery.id.hex}"
            timestamp = int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": message_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": signature(secret, message_id, timestamp, body),
            }
            try:
                response = self.client.post(delivery.url, content=body, headers=headers)
                status = response.status_code
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
            except httpx.HTTPError as err:
                error = f"{type(err).__name__}: {err}"
        self._settle(delivery, status, error)

    def _settle(self, delivery: webhooks.Delivery, status: int | None, error: str | None) -> None:
        delivered = error is None
        retry_in: float | None = None
        if not delivered:
            age_s = (datetime.now(UTC) - delivery.created_at).total_seconds()
            if age_s < self.settings.webhook_max_age_s:
                retry_in = retry_delay_s(
                    delivery.attempts + 1,
                    self.settings.webhook_retry_base_s,
                    self.settings.webhook_retry_max_s,
                )
        with self.engine.begin() as conn:
            webhooks.settle(
                conn,
                delivery.id,
                delivered=delivered,
                status=status,
                error=error,
                retry_in_s=retry_in,
            )
        outcome = "delivered" if delivered else ("retried" if retry_in is not None else "failed")
        metrics.WEBHOOK_DELIVERIES.labels(outcome).inc()
        level = logging.INFO if delivered else logging.WARNING
        log.log(
            level,
            "webhook %s of task %s %s (%s)",
            delivery.id,
            delivery.task_id,
            outcome,
            error or status,
        )

    def start(self, stop: threading.Event) -> threading.Thread:
        """Send in a daemon thread until `stop` is set; database errors are retried."""
        loop = ProcessLoop(
            "webhooks",
            retry_on=(sa.exc.SQLAlchemyError,),
            error_backoff_s=self.settings.error_backoff_s,
            stop=stop,
        )
        return loop.start_thread(self.step)
