"""The project's workloads: submits over HTTP (single or batch, closed loop or at a fixed rate)
and what the stack's `tasks` rows say about them afterwards (drain rate, latencies).

Every phase tags its tasks with a correlation id of its own, so the rows of one phase of one run
are found without touching anybody else's.
"""

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import psycopg

from lean_http import Connection, HttpError, build_request, tcp_connector
from load import Driver, LoopResult

PAYLOAD = {"bench": True}


class WorkloadError(Exception):
    """Raised when the stack does not finish a phase's tasks in time."""


@dataclass(frozen=True)
class Api:
    """Where the API listens and the key the bench submits with."""

    url: str
    key: str


@dataclass
class Submissions:
    """What a submit phase sent: the accepted ids with their send times, and every status."""

    correlation_id: str
    per_request: int
    loop: LoopResult = field(default_factory=lambda: LoopResult(0, 0.0))
    sent_at: dict[str, float] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def accepted(self) -> int:
        """Tasks the API answered 202 for."""
        return len(self.sent_at)

    @property
    def tasks_per_s(self) -> float:
        """Accepted tasks per second of the phase."""
        return self.accepted / self.loop.seconds if self.loop.seconds > 0 else 0.0

    @property
    def errors(self) -> int:
        """Requests that were not accepted (status 0: the connection failed)."""
        return sum(n for code, n in self.statuses.items() if code != 202)


@dataclass
class _Client:
    conn: Connection
    sent_at: dict[str, float] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)


def _driver(api: Api, out: Submissions, threads: int) -> Driver[_Client]:
    target = urlsplit(api.url)
    host, port = target.hostname or "127.0.0.1", target.port or 80
    task = {"type": "echo", "payload": PAYLOAD}
    if out.per_request > 1:
        path, body = "/api/tasks/batch", json.dumps({"tasks": [task] * out.per_request})
    else:
        path, body = "/api/tasks", json.dumps(task)
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {api.key}",
        "X-Correlation-Id": out.correlation_id,
    }
    request = build_request("POST", f"{host}:{port}", path, headers, body.encode())

    def connect() -> _Client:
        return _Client(Connection(tcp_connector(host, port, timeout_s=30)))

    def op(client: _Client, _: int) -> None:
        sent = time.time()
        try:
            response = client.conn.exchange(request)
        except (OSError, HttpError):
            # The connection closed itself; the next request opens a new one.
            client.statuses[0] += 1
            return
        client.statuses[response.status] += 1
        if response.status == 202:
            data: dict[str, Any] = json.loads(response.body)
            for item in data.get("tasks", [data]):
                client.sent_at[item["id"]] = sent

    def close(client: _Client) -> None:
        client.conn.close()
        out.sent_at.update(client.sent_at)
        out.statuses.update(client.statuses)

    return Driver(setup=connect, op=op, teardown=close, threads=threads)


def submit_closed(
    api: Api,
    correlation_id: str,
    *,
    threads: int,
    duration_s: float,
    max_requests: int,
    batch_size: int = 1,
) -> Submissions:
    """Submit back to back from `threads` keep-alive connections (like ops/loadgen.py)."""
    out = Submissions(correlation_id, batch_size)
    out.loop = _driver(api, out, threads).closed(duration_s, max_requests)
    return out


def submit_paced(
    api: Api, correlation_id: str, *, rate_per_s: float, count: int, threads: int
) -> Submissions:
    """Submit `count` single tasks at a fixed rate (open loop)."""
    out = Submissions(correlation_id, 1)
    out.loop = _driver(api, out, threads).paced(rate_per_s, count)
    return out


@dataclass(frozen=True)
class TaskRow:
    """The columns of a bench task the figures and the gate read, with its effects."""

    id: str
    correlation_id: str
    status: str
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    effects: int
    effect_attempt: int | None


def wait_finished(
    conn: psycopg.Connection[Any], correlation_ids: list[str], since: datetime, timeout_s: float
) -> float:
    """Wait until no task of these phases is active; returns the seconds it took."""
    started = time.monotonic()
    # The statuses are written out and the statement is never prepared, so every poll reads
    # the partial index of active statuses: a generic plan for bound statuses scanned every
    # task of the run (12 ms and 10,000 buffers a poll), database CPU the bench then counted
    # as the stack's own per task. EXISTS stops at the first active task of these phases; a
    # count read every active task's row on each poll while thousands waited.
    where = (
        "FROM tasks WHERE created_at >= %s AND correlation_id = ANY(%s) "
        "AND status IN ('SCHEDULED', 'PENDING', 'PROCESSING', 'RETRYING')"
    )
    params = (since, correlation_ids)
    while True:
        row = conn.execute(f"SELECT EXISTS (SELECT 1 {where})", params, prepare=False).fetchone()
        conn.commit()
        if row is not None and not row[0]:
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            active = conn.execute(f"SELECT count(*) {where}", params, prepare=False).fetchone()
            conn.commit()
            raise WorkloadError(
                f"{active[0] if active else '?'} bench tasks still active after {timeout_s:.0f} s"
            )
        time.sleep(0.25)


def read_rows(
    conn: psycopg.Connection[Any], correlation_ids: list[str], since: datetime
) -> list[TaskRow]:
    """Every task of these phases with its count of task_effects rows."""
    cursor = conn.execute(
        """
        SELECT t.id::text, t.correlation_id, t.status, t.attempts, t.created_at, t.started_at,
               t.finished_at, count(e.task_id), max(e.attempt)
        FROM tasks t LEFT JOIN task_effects e ON e.task_id = t.id
        WHERE t.created_at >= %s AND t.correlation_id = ANY(%s)
        GROUP BY t.id, t.created_at
        """,
        (since, correlation_ids),
    )
    rows = [TaskRow(*r) for r in cursor.fetchall()]
    conn.commit()
    return rows


def drain_rate(rows: list[TaskRow]) -> tuple[float, float]:
    """Tasks per second from the first created_at to the last finished_at, and that span."""
    finished = [r.finished_at for r in rows if r.finished_at is not None]
    if not rows or not finished:
        raise WorkloadError("no finished drain tasks to measure")
    span = (max(finished) - min(r.created_at for r in rows)).total_seconds()
    return len(rows) / span, span


def latencies_ms(rows: list[TaskRow], sent_at: dict[str, float]) -> tuple[list[float], list[float]]:
    """Submit -> start and submit -> finished milliseconds of the tasks sent in a phase."""
    to_start, to_finish = [], []
    for row in rows:
        sent = sent_at.get(row.id)
        if sent is None or row.started_at is None or row.finished_at is None:
            continue
        to_start.append((row.started_at.timestamp() - sent) * 1000)
        to_finish.append((row.finished_at.timestamp() - sent) * 1000)
    return to_start, to_finish
