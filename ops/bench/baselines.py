"""The baselines of a bench run: raw Celery, bare psycopg and raw Kafka on this machine."""

import baseline_celery
import baseline_kafka
import baseline_pg
import procstat
from plan import API_THREADS, BATCH_SIZE, BATCH_THREADS, LOW_RATE_PER_S, Config, Results, timed


def run_baselines(config: Config, results: Results, redis_pid: int) -> None:
    """(a) raw Celery, (b) and (c) bare psycopg, (d) raw Kafka."""
    sizes, say = config.sizes, config.say
    url = baseline_celery.raw_broker_url(config.broker_url, config.raw_broker_db)
    say(f"baseline: raw Celery, {sizes.raw_tasks} no-op tasks, concurrency {sizes.concurrency}")
    with baseline_celery.raw_worker(
        url, sizes.concurrency, config.log_dir / "raw-celery-worker.log"
    ) as worker:
        results.raw_pool = baseline_celery.pool_size(worker)
        roots = baseline_celery.cpu_roots(worker, redis_pid)
        before = procstat.cpu_ms(roots)
        raw = timed(
            results, "raw_drain", lambda: baseline_celery.drain(worker, sizes.raw_tasks, 300)
        )
        results.raw_cpu_ms = procstat.delta(before, procstat.cpu_ms(roots))
        results.raw_cpu_ms["sender"] = raw.producer_cpu_ms
        results.raw_drain = raw
        count = max(int(LOW_RATE_PER_S * sizes.latency_s), 2)
        results.raw_latency_ms = timed(
            results,
            "raw_latency",
            lambda: baseline_celery.latency(worker, LOW_RATE_PER_S, count, 60),
        )
    say(f"baseline: bare psycopg in {baseline_pg.BASE_DATABASE}")
    with baseline_pg.throwaway_database(config.database_url) as base_url:
        results.pg_single = timed(
            results,
            "pg_single",
            lambda: baseline_pg.api_transactions(
                base_url, threads=API_THREADS, duration_s=sizes.phase_s, max_tx=10**9
            ),
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
