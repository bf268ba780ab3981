"""What a bench run is given (sizes, where everything is) and what it measured, shared by the
baselines, the project's phases and the report."""

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from baseline_celery import RawDrain
from baseline_kafka import KafkaRates
from gate import GateResult
from load import LoopResult
from stack import Stack
from workloads import Api, Submissions

T = TypeVar("T")
# The components the phases of "the API alone" stop; beat keeps running as in production.
LOW_RATE_PER_S = 20.0
API_THREADS = 8
BATCH_THREADS = 4
BATCH_SIZE = 100


@dataclass(frozen=True)
class Sizes:
    """How much each phase does; --quick and the size options set them."""

    drain_tasks: int
    raw_tasks: int
    latency_s: float
    half_max_tasks: int
    phase_s: float
    single_max: int
    batch_max: int
    kafka_records: int
    concurrency: int
    # How many times the two noisiest comparisons run, each side right after the other: the
    # raw Celery drain with the project's drain, bare psycopg with the API's single submits.
    # The report takes the median of each side.
    rounds: int


@dataclass(frozen=True)
class Config:
    """Where everything is and how much to do."""

    stack: Stack
    api: Api
    database_url: str
    broker_url: str
    raw_broker_db: int
    kafka: str
    sizes: Sizes
    run_id: str
    log_dir: Path
    say: Callable[[str], None]


@dataclass(frozen=True)
class RawRound:
    """One raw Celery drain and the CPU its processes spent, in ms per task."""

    drain: RawDrain
    cpu_per_task_ms: dict[str, float]


@dataclass(frozen=True)
class DrainRound:
    """One drain of the project: its tasks, rate, span and CPU per task of each process."""

    phase: Submissions
    rate: float
    span_s: float
    cpu_per_task_ms: dict[str, float]


def median_round(rounds: list[T], key: Callable[[T], float]) -> T:
    """The round whose `key` is the median (the lower one of an even count)."""
    if not rounds:
        raise ValueError("no rounds")
    ordered = sorted(rounds, key=key)
    return ordered[(len(ordered) - 1) // 2]


def median_per_key(values: list[dict[str, float]]) -> dict[str, float]:
    """Each key's median over the dicts (a process's CPU per task over the rounds)."""
    keys = [k for k in values[0] if all(k in v for v in values)] if values else []
    return {k: statistics.median(v[k] for v in values) for k in keys}


@dataclass
class Results:
    """Everything the phases measured, for the report."""

    raw_drain: RawDrain | None = None
    raw_pool: int = 0
    # Medians over the rounds of each process's CPU per task; the rate fields above and below
    # hold the round of the median rate.
    raw_cpu_per_task_ms: dict[str, float] = field(default_factory=dict)
    raw_latency_ms: list[float] = field(default_factory=list)
    pg_single: LoopResult | None = None
    pg_batch: LoopResult | None = None
    kafka: KafkaRates | None = None
    stack_pool: int = 0
    drain: Submissions | None = None
    drain_rate: float = 0.0
    drain_span_s: float = 0.0
    drain_cpu_per_task_ms: dict[str, float] = field(default_factory=dict)
    low: Submissions | None = None
    low_ms: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))
    single_idle: Submissions | None = None
    batch: Submissions | None = None
    single_draining: Submissions | None = None
    half: Submissions | None = None
    half_rate_asked: float = 0.0
    half_ms: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))
    flower_rss_mib: dict[str, float] = field(default_factory=dict)
    raw_rounds: list[RawRound] = field(default_factory=list)
    # One drain of raw Celery with the service worker's consumer, for reference (no target).
    raw_batched: RawRound | None = None
    drain_rounds: list[DrainRound] = field(default_factory=list)
    pg_single_rounds: list[LoopResult] = field(default_factory=list)
    single_idle_rounds: list[Submissions] = field(default_factory=list)
    single_draining_rounds: list[Submissions] = field(default_factory=list)
    counters: dict[str, float] = field(default_factory=dict)
    gate: GateResult | None = None
    timings_s: dict[str, float] = field(default_factory=dict)


def timed(results: Results, name: str, run: Callable[[], T]) -> T:
    started = time.monotonic()
    try:
        return run()
    finally:
        results.timings_s[name] = round(time.monotonic() - started, 2)
