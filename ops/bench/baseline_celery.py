"""Baseline (a): raw Celery with the service's configuration, on a Redis database of its own.

The bench starts a prefork worker of raw_celery_app.py as a subprocess, with the stack worker's
concurrency, and measures the no-op drain rate (first send to last acknowledgement), the CPU the
worker, Redis and the sending thread spent per task, and the send -> start latency at a fixed
low rate.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit, urlunsplit

from celery import Celery
from redis import Redis

import procstat
from raw_celery_app import (
    DONE_KEY,
    DONE_TASK,
    NOOP_TASK,
    RAW_QUEUE,
    STAMP_TASK,
    STAMPS_KEY,
    make_raw_celery,
)

HERE = Path(__file__).resolve().parent
# kombu keeps messages a worker reserved (acks_late) in this hash until they are acknowledged.
UNACKED_KEY = "unacked"
# What the bridge sends for the API's default priority 0 (celery_tasks/send.py).
SEND_PRIORITY = 9
# The app module of the raw worker: raw Celery's consumer, or the service worker's.
RAW_APP = "raw_celery_app"
BATCHED_APP = "raw_celery_batched_app"


class BaselineError(Exception):
    """Raised when the raw worker does not start or a measurement does not finish in time."""


@dataclass(frozen=True)
class RawDrain:
    """A no-op drain: how many, how long, and what the sending thread spent."""

    tasks: int
    seconds: float
    producer_cpu_ms: float

    @property
    def rate(self) -> float:
        """Tasks per second."""
        return self.tasks / self.seconds


def raw_broker_url(broker_url: str, db: int) -> str:
    """The stack's broker URL with the bench's own database number."""
    if db in {0, 1}:
        raise BaselineError("Redis databases 0 and 1 belong to the stack; pick another")
    parts = urlsplit(broker_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", "", ""))


@dataclass
class RawWorker:
    """A raw Celery worker subprocess and the clients that talk to it."""

    app: Celery
    redis: Redis
    process: subprocess.Popen[bytes]
    hostname: str

    def queued(self) -> int:
        """Messages waiting in the bench queue's priority lists or reserved by the worker."""
        keys = list(self.redis.scan_iter(f"{RAW_QUEUE}*"))
        waiting = sum(cast(int, self.redis.llen(k)) for k in keys)
        return waiting + cast(int, self.redis.hlen(UNACKED_KEY))


def _wait_ready(app: Celery, hostname: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BaselineError(f"the raw Celery worker exited with {process.returncode}")
        if app.control.ping(destination=[hostname], timeout=1.0):
            return
    raise BaselineError("the raw Celery worker did not answer a ping within 60 s")


@contextmanager
def raw_worker(
    broker_url: str, concurrency: int, log_file: Path, app_module: str = RAW_APP
) -> Iterator[RawWorker]:
    """Start a prefork worker of `app_module` on the bench queue; stop it (warm shutdown) on
    exit."""
    redis = Redis.from_url(broker_url)
    redis.flushdb()
    app = make_raw_celery(broker_url)
    hostname = f"bench-raw-{os.getpid()}@{socket.gethostname()}"
    env = {
        **os.environ,
        "BENCH_RAW_BROKER_URL": broker_url,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
    }
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        app_module,
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency}",
        f"--hostname={hostname}",
        f"--queues={RAW_QUEUE}",
        "--loglevel=INFO",
    ]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_ready(app, hostname, process)
        yield RawWorker(app, redis, process, hostname)
    finally:
        _stop(process)
        redis.flushdb()
        redis.close()


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # The worker ignored its warm shutdown; its session holds only what it forked.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def drain(worker: RawWorker, tasks: int, timeout_s: float) -> RawDrain:
    """Send `tasks` messages as fast as one thread can, the last one recording its run time,
    and time it until the worker acknowledged every one."""
    worker.redis.delete(DONE_KEY)
    cpu0 = time.thread_time()
    started = time.time()
    for _ in range(tasks - 1):
        worker.app.send_task(NOOP_TASK, queue=RAW_QUEUE, priority=SEND_PRIORITY)
    worker.app.send_task(DONE_TASK, queue=RAW_QUEUE, priority=SEND_PRIORITY)
    producer_cpu_ms = (time.thread_time() - cpu0) * 1000
    if worker.redis.blpop([DONE_KEY], timeout=timeout_s) is None:
        raise BaselineError(f"the raw Celery drain of {tasks} tasks took over {timeout_s:.0f} s")
    deadline = time.monotonic() + timeout_s
    while worker.queued() > 0:
        if time.monotonic() > deadline:
            raise BaselineError("the raw Celery worker did not acknowledge every message")
        time.sleep(0.001)
    return RawDrain(tasks, time.time() - started, producer_cpu_ms)


def latency(worker: RawWorker, rate_per_s: float, count: int, timeout_s: float) -> list[float]:
    """Send -> start milliseconds of `count` tasks sent at a fixed rate."""
    worker.redis.delete(STAMPS_KEY)
    began = time.monotonic()
    for i in range(count):
        pause = began + i / rate_per_s - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        worker.app.send_task(
            STAMP_TASK, args=[time.time()], queue=RAW_QUEUE, priority=SEND_PRIORITY
        )
    values: list[float] = []
    deadline = time.monotonic() + timeout_s
    while len(values) < count:
        left = deadline - time.monotonic()
        popped = cast(
            "list[bytes] | None", worker.redis.blpop([STAMPS_KEY], timeout=max(left, 0.01))
        )
        if popped is None:
            raise BaselineError(f"only {len(values)} of {count} raw latency tasks ran")
        values.append(float(popped[1]))
    return values


def cpu_roots(worker: RawWorker, redis_pid: int) -> dict[str, int]:
    """The process trees whose CPU counts for raw Celery: its worker and Redis."""
    return {"worker": worker.process.pid, "redis": redis_pid}


def pool_size(worker: RawWorker) -> int:
    """The worker's prefork children (its tree minus the parent)."""
    return procstat.tree_size(worker.process.pid) - 1
