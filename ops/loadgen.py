"""Submit-throughput load generator: `python ops/loadgen.py single|batch [options]`.

Sends POST /api/tasks (single) or POST /api/tasks/batch (batch) from N threads, each with its
own keep-alive connection, until --requests are sent or --duration-s has passed, whichever
comes first, then prints requests/s, tasks/s, latency percentiles and the status counts.
Targets 127.0.0.1 only. The key needs a rate limit that admits the load: create one with
`taskctl apikey create --name bench --tenant bench --scope submit --rate-limit 1000000/minute`.
"""

import argparse
import http.client
import json
import statistics
import threading
import time
from collections import Counter
from urllib.parse import urlsplit


def _worker(
    args: argparse.Namespace,
    *,
    deadline: float,
    budget: list[int],
    lock: threading.Lock,
    latencies: list[float],
    statuses: Counter[int],
) -> None:
    url = urlsplit(args.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=30)
    task = {"type": "echo", "payload": {"bench": True}}
    if args.mode == "batch":
        path, body = "/api/tasks/batch", json.dumps({"tasks": [task] * args.batch_size})
    else:
        path, body = "/api/tasks", json.dumps(task)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {args.key}"}
    mine: list[float] = []
    codes: Counter[int] = Counter()
    while time.monotonic() < deadline:
        with lock:
            if budget[0] <= 0:
                break
            budget[0] -= 1
        started = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        mine.append(time.perf_counter() - started)
        codes[response.status] += 1
    conn.close()
    with lock:
        latencies.extend(mine)
        statuses.update(codes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["single", "batch"])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--key", required=True, help="API key with the submit scope.")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--requests", type=int, default=2000, help="Upper bound of requests.")
    parser.add_argument("--duration-s", type=float, default=15.0, help="Upper bound of time.")
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()
    if urlsplit(args.url).hostname not in {"127.0.0.1", "localhost", "::1"}:
        parser.error("the load generator only targets this machine")
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    budget = [args.requests]
    started = time.monotonic()
    deadline = started + args.duration_s
    threads = [
        threading.Thread(
            target=_worker,
            args=(args,),
            kwargs={
                "deadline": deadline,
                "budget": budget,
                "lock": lock,
                "latencies": latencies,
                "statuses": statuses,
            },
        )
        for _ in range(args.threads)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    accepted = statuses.get(202, 0)
    per_request = args.batch_size if args.mode == "batch" else 1
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    print(
        json.dumps(
            {
                "mode": args.mode,
                "threads": args.threads,
                "batch_size": per_request,
                "requests": len(latencies),
                "elapsed_s": round(elapsed, 2),
                "requests_per_s": round(len(latencies) / elapsed, 1),
                "tasks_per_s": round(accepted * per_request / elapsed, 1),
                "latency_ms": {"p50": round(cuts[49] * 1000, 1), "p99": round(cuts[98] * 1000, 1)},
                "statuses": dict(statuses),
            }
        )
    )


if __name__ == "__main__":
    main()
