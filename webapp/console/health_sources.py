"""The figures of the queue-health page, asked of their three sources at once and bounded in
time, so the page answers within a second whatever is down.

PostgreSQL gives the active tasks and the oldest PENDING one (the relay's queries); Kafka the
dead-letter topic's depth and the bridges' lag, asked of the broker, so both are known while
no bridge or relay runs; Prometheus the last hour of each figure, the throughput and the
workers online (Flower's heartbeats). A source that fails or is late is shown as unavailable.
"""

import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa
from confluent_kafka import KafkaException

from db.queue_health import oldest_pending_age_s, tasks_by_status
from db.topics import DLT_TOPIC, TASKS_TOPIC, consumer_lag, topic_depth
from webapp.console import prometheus
from webapp.console.blueprint import ConsoleState
from webapp.services import Services

# The whole page gets this long; each source's own timeouts are shorter.
BUDGET_S = 0.8
STATEMENT_TIMEOUT_MS = 500
KAFKA_TIMEOUT_S = 0.3


@dataclass(frozen=True)
class Reading:
    """A source's answer, or why there is none."""

    value: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class QueueHealth:
    """Every source's reading, and how long they took together."""

    database: Reading
    kafka: Reading
    prometheus: Reading
    taken_s: float
    at: float


def _database(svc: Services) -> dict[str, Any]:
    def query(conn: sa.Connection) -> dict[str, Any]:
        conn.execute(sa.text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
        return {"by_status": tasks_by_status(conn), "oldest_pending_s": oldest_pending_age_s(conn)}

    return svc.engines.read(query)


def _kafka(svc: Services) -> dict[str, Any]:
    admin = svc.kafka_admin
    group = svc.settings.bridge_group_id
    return {
        "dlt_depth": topic_depth(admin, DLT_TOPIC, timeout_s=KAFKA_TIMEOUT_S),
        "lag": consumer_lag(admin, group, TASKS_TOPIC, timeout_s=KAFKA_TIMEOUT_S),
    }


def _prometheus(state: ConsoleState) -> dict[str, Any]:
    # Made here, in the source's thread: the first client loads its TLS context, which takes
    # a moment that belongs inside the page's budget.
    client = state.prometheus
    return {
        "series": prometheus.hour_of_series(client),
        "workers": prometheus.workers_online(client),
    }


ERRORS = (sa.exc.SQLAlchemyError, KafkaException, httpx.HTTPError, ValueError, KeyError)


def _guarded(fetch: Callable[[], dict[str, Any]]) -> Callable[[], Reading]:
    def run() -> Reading:
        try:
            return Reading(value=fetch())
        except ERRORS as err:
            return Reading(error=f"{type(err).__name__}: {err}"[:300])

    return run


def gather(state: ConsoleState, svc: Services, budget_s: float = BUDGET_S) -> QueueHealth:
    """Ask every source in parallel; what has not answered within `budget_s` is unavailable."""
    started = time.monotonic()
    futures: dict[str, Future[Reading]] = {
        "database": state.executor.submit(_guarded(lambda: _database(svc))),
        "kafka": state.executor.submit(_guarded(lambda: _kafka(svc))),
        "prometheus": state.executor.submit(_guarded(lambda: _prometheus(state))),
    }
    wait(futures.values(), timeout=budget_s)
    readings = {}
    for name, future in futures.items():
        if future.done():
            readings[name] = future.result()
        else:
            # It goes on in its thread until its own timeout; the page does not wait for it.
            readings[name] = Reading(error=f"no answer within {budget_s:g} s")
    return QueueHealth(
        database=readings["database"],
        kafka=readings["kafka"],
        prometheus=readings["prometheus"],
        taken_s=time.monotonic() - started,
        at=time.time(),
    )
