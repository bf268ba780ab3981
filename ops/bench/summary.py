"""From what the phases measured to the report's rows: figures, ratios and the targets of
issue 12 (the bench reports targets; only the correctness gate fails a run)."""

import statistics
from typing import TypeVar

from plan import LOW_RATE_PER_S, Results
from report import Report, Target, percentiles

BASE = "baselines"
PROJECT = "project"
LATENCY = "latency (submit → start / finished)"
CPU = "CPU per task (ms, utime+stime from /proc)"
GATE = "correctness gate"
T = TypeVar("T")


def _of(rounds: int) -> str:
    return f", median of {rounds}" if rounds > 1 else ""


def _got(value: T | None, what: str) -> T:
    if value is None:
        raise ValueError(f"the {what} phase did not run")
    return value


def _baselines(report: Report, r: Results) -> None:
    raw = _got(r.raw_drain, "raw Celery")
    pg_single = _got(r.pg_single, "bare psycopg")
    pg_batch = _got(r.pg_batch, "multi-row insert")
    kafka = _got(r.kafka, "raw Kafka")
    report.add(
        BASE,
        "base.celery_drain",
        f"raw Celery no-op drain (prefork x{r.raw_pool}){_of(len(r.raw_rounds))}",
        raw.rate,
        "tasks/s",
    )
    if r.raw_batched is not None:
        report.add(
            BASE,
            "base.celery_drain_batched",
            "raw Celery no-op drain, the service worker's Celery changes (reference)",
            r.raw_batched.drain.rate,
            "tasks/s",
        )
    for name, value in percentiles(r.raw_latency_ms).items():
        report.add(
            BASE,
            f"base.celery_start_{name}",
            f"raw Celery send → start @{LOW_RATE_PER_S:g}/s {name}",
            value,
            "ms",
        )
    report.add(
        BASE,
        "base.pg_single",
        f"bare psycopg, API tx (task+outbox), 8 thr{_of(len(r.pg_single_rounds))}",
        pg_single.rate,
        "tasks/s",
    )
    report.add(
        BASE,
        "base.pg_batch",
        "bare multi-row INSERT x100 per tx, 4 thr",
        pg_batch.rate * 100,
        "tasks/s",
    )
    report.add(
        BASE,
        "base.kafka_produce",
        "raw Kafka produce (idempotent, acks=all)",
        kafka.produce_rate,
        "records/s",
    )
    report.add(
        BASE,
        "base.kafka_consume",
        "raw Kafka consume (bridge config)",
        kafka.consume_rate,
        "records/s",
    )


def _throughput(report: Report, r: Results) -> None:
    drain = _got(r.drain, "drain")
    idle = _got(r.single_idle, "single submit, stack idle")
    batch = _got(r.batch, "batch submit")
    draining = _got(r.single_draining, "single submit, stack draining")
    report.add(
        PROJECT,
        "project.drain",
        f"drain, {drain.accepted} tasks via batch API{_of(len(r.drain_rounds))}",
        r.drain_rate,
        "tasks/s",
        versus="base.celery_drain",
        target=Target("ratio", 0.5),
    )
    if r.raw_batched is not None:
        report.add(
            PROJECT,
            "project.drain_vs_batched",
            "drain, against raw Celery with the same Celery changes",
            r.drain_rate,
            "tasks/s",
            versus="base.celery_drain_batched",
        )
    report.add(
        PROJECT,
        "project.single_idle",
        f"single submit, 8 thr, API alone{_of(len(r.single_idle_rounds))}",
        idle.tasks_per_s,
        "tasks/s",
        versus="base.pg_single",
        target=Target("ratio", 0.5),
    )
    report.add(
        PROJECT,
        "project.single_draining",
        f"single submit, 8 thr, stack draining{_of(len(r.single_draining_rounds))}",
        draining.tasks_per_s,
        "tasks/s",
        versus="project.single_idle",
        target=Target("ratio", 0.7),
    )
    report.add(
        PROJECT,
        "project.batch",
        "batch submit x100, 4 thr, API alone",
        batch.tasks_per_s,
        "tasks/s",
        versus="base.pg_batch",
        target=Target("ratio", 0.5),
    )


def _latency(report: Report, r: Results) -> None:
    low = _got(r.low, "low-rate latency").loop.rate
    half = _got(r.half, "half-maximum latency").loop.rate
    targets = {"p50": Target("value", 25, at_most=True), "p99": Target("value", 100, at_most=True)}
    start, finish = (percentiles(v) for v in r.low_ms)
    for name, value in start.items():
        report.add(
            LATENCY,
            f"latency.low_start_{name}",
            f"submit → start @{low:.0f}/s {name}",
            value,
            "ms",
            versus=f"base.celery_start_{name}",
            target=targets.get(name),
        )
    for name, value in finish.items():
        report.add(
            LATENCY,
            f"latency.low_finish_{name}",
            f"submit → finished @{low:.0f}/s {name}",
            value,
            "ms",
        )
    start, finish = (percentiles(v) for v in r.half_ms)
    for name, value in start.items():
        report.add(
            LATENCY,
            f"latency.half_start_{name}",
            f"submit → start @½ max ({half:.0f}/s) {name}",
            value,
            "ms",
        )
    for name, value in finish.items():
        report.add(
            LATENCY,
            f"latency.half_finish_{name}",
            f"submit → finished @½ max ({half:.0f}/s) {name}",
            value,
            "ms",
        )


def _total(medians: dict[str, float], rounds: list[dict[str, float]]) -> float:
    """The median over the rounds of the summed CPU per task (the sum of each process's median
    when there are no rounds to take it from)."""
    if not rounds:
        return sum(medians.values())
    return statistics.median(sum(r.values()) for r in rounds)


def _cpu(report: Report, r: Results) -> None:
    rounds = f" (median of {len(r.drain_rounds)})" if len(r.drain_rounds) > 1 else ""
    for name in ("worker", "redis", "sender"):
        report.add(CPU, f"cpu.raw_{name}", f"raw Celery: {name}", r.raw_cpu_per_task_ms[name], "ms")
    report.add(
        CPU,
        "cpu.raw_total",
        f"raw Celery: worker + redis + sender{rounds}",
        _total(r.raw_cpu_per_task_ms, [x.cpu_per_task_ms for x in r.raw_rounds]),
        "ms",
    )
    for name, value in r.drain_cpu_per_task_ms.items():
        report.add(CPU, f"cpu.{name}", f"stack: {name}", value, "ms")
    stack_total = _total(r.drain_cpu_per_task_ms, [x.cpu_per_task_ms for x in r.drain_rounds])
    report.add(
        CPU,
        "cpu.total",
        f"stack: every process{rounds}",
        stack_total,
        "ms",
        versus="cpu.raw_total",
        target=Target("ratio", 2, at_most=True),
    )
    if r.raw_batched is not None:
        report.add(
            CPU,
            "cpu.raw_batched_total",
            "raw Celery with the service worker's Celery changes: worker + redis + sender",
            sum(r.raw_batched.cpu_per_task_ms.values()),
            "ms",
        )
        report.add(
            CPU,
            "cpu.total_vs_batched",
            "stack: every process, against raw Celery with the same Celery changes",
            stack_total,
            "ms",
            versus="cpu.raw_batched_total",
        )
    for moment in ("before", "after"):
        report.add(
            CPU,
            f"flower.rss_{moment}",
            f"Flower VmRSS {moment} the project phases",
            r.flower_rss_mib[moment],
            "MiB",
        )


def _gate(report: Report, r: Results) -> None:
    g = _got(r.gate, "gate")
    report.add(GATE, "gate.accepted", "bench tasks accepted by the API", g.accepted, "tasks")
    report.add(
        GATE,
        "gate.completed_once",
        "COMPLETED once, one task_effects row",
        g.completed_once,
        "tasks",
        versus="gate.accepted",
        target=Target("ratio", 1),
    )
    report.add(GATE, "gate.multi_attempt", "tasks with more than one attempt", g.multi_attempt, "")
    report.add(GATE, "gate.retries", "retries counted by the worker", g.retries, "")
    report.add(
        GATE,
        "gate.duplicates",
        "duplicate deliveries (worker counter)",
        g.duplicate_deliveries,
        "",
    )
    report.add(GATE, "gate.request_errors", "submits not accepted", g.request_errors, "")
    report.add(
        GATE,
        "gate.passed",
        "gate passed",
        1.0 if g.passed else 0.0,
        "",
        target=Target("value", 1),
    )


def build(results: Results) -> Report:
    """Every row of the report, in table order."""
    report = Report()
    _baselines(report, results)
    _throughput(report, results)
    _latency(report, results)
    _cpu(report, results)
    _gate(report, results)
    return report
