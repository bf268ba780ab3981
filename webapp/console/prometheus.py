"""The few Prometheus queries of the queue-health page (HTTP API v1, instant and range)."""

import math
import time
from typing import Any

import httpx

WINDOW_S = 3600
STEP_S = 60
# Completed and failed per minute; the bridges' lag and the relays' gauges (the same figure
# from every relay, hence max); workers with a heartbeat in Flower, as the alert counts them.
SERIES = {
    "completed": 'sum(increase(task_processing_time_count{outcome="completed"}[1m]))',
    "failed": 'sum(increase(task_processing_time_count{outcome="failed"}[1m]))',
    "lag": "sum(bridge_consumer_lag)",
    "dlt_depth": "max(tasks_dlt_depth)",
    "oldest_pending_s": "max(tasks_oldest_pending_age_seconds)",
    "workers": "sum(flower_worker_online)",
}
WORKERS_ONLINE = "flower_worker_online == 1"
MAX_WORKERS_LISTED = 50

Point = tuple[float, float]


def _data(client: httpx.Client, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.get(path, params=params)
    response.raise_for_status()
    body = response.json()
    if body.get("status") != "success":
        raise ValueError(f"prometheus: {body.get('error', 'query failed')}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def query_range(client: httpx.Client, query: str, now: float) -> list[Point]:
    """The first series of `query` over the last hour, a point a minute (none: empty)."""
    result = _data(
        client,
        "/api/v1/query_range",
        {"query": query, "start": now - WINDOW_S, "end": now, "step": STEP_S},
    )
    if not result:
        return []
    points = [(float(t), float(v)) for t, v in result[0]["values"]]
    return [(t, v) for t, v in points if math.isfinite(v)]


def workers_online(client: httpx.Client) -> list[str]:
    """The names of the workers Flower sees online."""
    result = _data(client, "/api/v1/query", {"query": WORKERS_ONLINE})
    names = sorted(str(r["metric"].get("worker", "?")) for r in result)
    return names[:MAX_WORKERS_LISTED]


def hour_of_series(client: httpx.Client) -> dict[str, list[Point] | str]:
    """Every series of the page: its points, or why it is missing. A Prometheus that does not
    answer at all fails the whole call (httpx.TransportError), so the page asks it once."""
    now = time.time()
    found: dict[str, list[Point] | str] = {}
    for name, query in SERIES.items():
        try:
            found[name] = query_range(client, query, now)
        except httpx.TransportError:
            raise
        except (httpx.HTTPError, ValueError, KeyError, TypeError, IndexError) as err:
            found[name] = f"{type(err).__name__}: {err}"[:200]
    return found
