"""The baselines of a bench run: raw Celery, bare psycopg and raw Kafka on this machine.

The raw Celery worker and the bare psycopg database stay up for the whole run, so that their
drains and transaction loops can run again right beside the project's (phases.py, rounds).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import baseline_celery
import baseline_kafka
import baseline_pg
import procstat
from plan import (
    API_THREADS,
    BATCH_SIZE,
    BATCH_THREADS,
    LOW_RATE_PER_S,
    Config,
    RawRound,
    Results,
    timed,
)


@dataclass
class Baselines:
    """The raw Celery worker and the bare psycopg database of a run."""

    config: Config
    results: Results
    worker: baseline_celery.RawWorker
    redis_pid: int
    base_url: str

    def raw_drain(self) -> None:
        """One raw Celery no-op drain, with the CPU per task of its worker, Redis and sender."""
        sizes = self.config.sizes
        self.config.say(f"baseline: raw Celery drain of {sizes.raw_tasks} no-op tasks")
        name = f"raw_drain_{len(self.results.raw_rounds) + 1}"
        self.results.raw_rounds.append(
            measure_raw_drain(self.results, name, self.worker, self.redis_pid, sizes.raw_tasks)
        )

    def pg_single(self) -> None:
        """One loop of the API's transaction on bare psycopg, at the API's concurrency."""
        sizes = self.config.sizes
        self.config.say(f"baseline: bare psycopg in {baseline_pg.BASE_DATABASE}")
        loop = timed(
            self.results,
            f"pg_single_{len(self.results.pg_single_rounds) + 1}",
            lambda: baseline_pg.api_transactions(
                self.base_url, threads=API_THREADS, duration_s=sizes.phase_s, max_tx=10**9
            ),
        )
        self.results.pg_single_rounds.append(loop)


def measure_raw_drain(
    results: Results, name: str, worker: baseline_celery.RawWorker, redis_pid: int, tasks: int
) -> RawRound:
    """A no-op drain of `worker`, with the CPU per task of the worker, Redis and the sender."""
    roots = baseline_celery.cpu_roots(worker, redis_pid)
    before = procstat.cpu_ms(roots)
    raw = timed(results, name, lambda: baseline_celery.drain(worker, tasks, 300))
    spent = procstat.delta(before, procstat.cpu_ms(roots))
    spent["sender"] = raw.producer_cpu_ms
    return RawRound(raw, {key: ms / raw.tasks for key, ms in spent.items()})


def batched_reference(config: Config, results: Results, url: str, redis_pid: int) -> None:
    """One drain of a raw worker with the service worker's consumer (events in batches) and
    transport (one Redis client per channel), for reference beside raw Celery's own: no target
    is measured against it."""
    sizes = config.sizes
    config.say(f"baseline: raw Celery with the service worker's changes, {sizes.raw_tasks} tasks")
    with baseline_celery.raw_worker(
        url,
        sizes.concurrency,
        config.log_dir / "raw-celery-batched-worker.log",
        app_module=baseline_celery.BATCHED_APP,
    ) as worker:
        results.raw_batched = measure_raw_drain(
            results, "raw_drain_batched", worker, redis_pid, sizes.raw_tasks
        )


@contextmanager
def open_baselines(config: Config, results: Results, redis_pid: int) -> Iterator[Baselines]:
    """Start the raw Celery worker and create the bare psycopg database; measure the
    baselines that run once (raw send -> start latency, multi-row INSERT, raw Kafka)."""
    sizes, say = config.sizes, config.say
    url = baseline_celery.raw_broker_url(config.broker_url, config.raw_broker_db)
    batched_reference(config, results, url, redis_pid)
    say(f"baseline: raw Celery worker, concurrency {sizes.concurrency}")
    with (
        baseline_celery.raw_worker(
            url, sizes.concurrency, config.log_dir / "raw-celery-worker.log"
        ) as worker,
        baseline_pg.throwaway_database(config.database_url) as base_url,
    ):
        results.raw_pool = baseline_celery.pool_size(worker)
        count = max(int(LOW_RATE_PER_S * sizes.latency_s), 2)
        results.raw_latency_ms = timed(
            results,
            "raw_latency",
            lambda: baseline_celery.latency(worker, LOW_RATE_PER_S, count, 60),
        )
        results.pg_batch = timed(
            results,
            "pg_batch",
            lambda: baseline_pg.multirow_inserts(
                base_url,
                threads=BATCH_THREADS,
                batch=BATCH_SIZE,
                duration_s=sizes.phase_s,
                max_batches=10**9,
            ),
        )
        say(f"baseline: raw Kafka, {sizes.kafka_records} records on a 32-partition topic")
        results.kafka = timed(
            results, "kafka", lambda: baseline_kafka.rates(config.kafka, sizes.kafka_records)
        )
        yield Baselines(config, results, worker, redis_pid, base_url)
