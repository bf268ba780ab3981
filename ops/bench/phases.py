"""The project's phases of a bench run, on the stack (the baselines are baselines.py).

Each phase's tasks carry a correlation id of their own. The phases that need the API alone stop
the relay, the bridge and the worker and always start them again, then wait until the stack
has drained what they submitted.
"""

import math
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

import baseline_pg
import procstat
import workloads
from baselines import Baselines
from gate import check
from plan import (
    API_THREADS,
    BATCH_SIZE,
    BATCH_THREADS,
    LOW_RATE_PER_S,
    Config,
    DrainRound,
    Results,
    median_per_key,
    median_round,
    timed,
)
from stack import DUPLICATES, RETRIES, CounterDeltas
from workloads import Submissions, TaskRow

CONSUMERS = ("relay", "bridge", "worker")


class _Project:
    """The project's phases against the running stack."""

    def __init__(
        self,
        config: Config,
        results: Results,
        conn: psycopg.Connection[Any],
        baselines: Baselines,
    ) -> None:
        self.config = config
        self.results = results
        self.conn = conn
        self.baselines = baselines
        self.since = datetime.now(UTC) - timedelta(seconds=5)
        self.counters = CounterDeltas(config.stack)
        self.phases: list[Submissions] = []

    def cid(self, phase: str) -> str:
        return f"bench-{self.config.run_id}-{phase}"

    def submitted(self, phase: Submissions) -> Submissions:
        self.phases.append(phase)
        return phase

    def wait(self, *phases: Submissions) -> list[TaskRow]:
        ids = [p.correlation_id for p in phases]
        expected = sum(p.accepted for p in phases)
        timeout = max(120.0, expected / 10)
        workloads.wait_finished(self.conn, ids, self.since, timeout)
        return workloads.read_rows(self.conn, ids, self.since)

    def drain(self, pids: dict[str, int]) -> None:
        """One drain of the project: batches submitted, every task to COMPLETED."""
        sizes, results = self.config.sizes, self.results
        roots = self.config.stack.cpu_roots(pids)
        number = len(results.drain_rounds) + 1
        requests = max(math.ceil(sizes.drain_tasks / BATCH_SIZE), 1)
        self.config.say(f"project: drain of {requests * BATCH_SIZE} echo tasks (batch API)")
        results.flower_rss_mib.setdefault("before", procstat.rss_mib(pids["flower"]))
        started = time.monotonic()
        drained = measure_drain(
            self.config.api,
            self.conn,
            roots,
            correlation_id=self.cid(f"drain-{number}"),
            requests=requests,
            since=self.since,
        )
        self.submitted(drained.phase)
        results.timings_s[f"drain_{number}"] = round(time.monotonic() - started, 2)
        results.flower_rss_mib["after_drain"] = procstat.rss_mib(pids["flower"])
        results.drain_rounds.append(drained)

    def low_rate(self) -> None:
        count = max(int(LOW_RATE_PER_S * self.config.sizes.latency_s), 2)
        self.config.say(f"project: latency at {LOW_RATE_PER_S:g}/s ({count} single submits)")
        phase = self.submitted(
            workloads.submit_paced(
                self.config.api, self.cid("low"), rate_per_s=LOW_RATE_PER_S, count=count, threads=2
            )
        )
        self.results.low = phase
        self.results.low_ms = workloads.latencies_ms(self.wait(phase), phase.sent_at)

    def api_alone(self) -> None:
        sizes, stack, say = self.config.sizes, self.config.stack, self.config.say
        say(f"project: stopping {', '.join(CONSUMERS)} for the API-alone phases")
        self.counters.pause()
        try:
            stack.stop(CONSUMERS)
            for number in range(1, sizes.rounds + 1):
                self.baselines.pg_single()
                say(f"project: single submits, API alone ({number} of {sizes.rounds})")
                idle = workloads.submit_closed(
                    self.config.api,
                    self.cid(f"single-idle-{number}"),
                    threads=API_THREADS,
                    duration_s=sizes.phase_s,
                    max_requests=sizes.single_max,
                )
                self.results.single_idle_rounds.append(self.submitted(idle))
            self.results.batch = self.submitted(
                workloads.submit_closed(
                    self.config.api,
                    self.cid("batch"),
                    threads=BATCH_THREADS,
                    duration_s=sizes.phase_s,
                    max_requests=sizes.batch_max,
                    batch_size=BATCH_SIZE,
                )
            )
        finally:
            say(f"project: starting {', '.join(CONSUMERS)} again")
            stack.start(CONSUMERS)
            self.resume_counters()
        started = time.monotonic()
        self.wait(*self.results.single_idle_rounds, self.results.batch)
        self.results.timings_s["backlog_drain"] = round(time.monotonic() - started, 2)

    def resume_counters(self) -> None:
        # A freshly started worker serves its metrics a moment after stack.sh returns.
        deadline = time.monotonic() + 30
        while True:
            try:
                self.counters.resume()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
            else:
                return

    def while_draining(self) -> None:
        # As many rounds as the API-alone figure it is compared with, for the same reason: one
        # round of it moved from 0.51 to 0.76 of the API-alone rate between two runs.
        sizes, results = self.config.sizes, self.results
        for number in range(1, sizes.rounds + 1):
            self.config.say(
                f"project: single submits while the stack drains them ({number} of {sizes.rounds})"
            )
            phase = self.submitted(
                workloads.submit_closed(
                    self.config.api,
                    self.cid(f"single-draining-{number}"),
                    threads=API_THREADS,
                    duration_s=sizes.phase_s,
                    max_requests=sizes.single_max,
                )
            )
            results.single_draining_rounds.append(phase)
            # Each round starts with no backlog, as the first did.
            self.wait(phase)
        results.single_draining = median_round(
            results.single_draining_rounds, lambda r: r.tasks_per_s
        )

    def half_max(self) -> None:
        # Half of what the whole stack sustains: the drain rate, which is below the API's own
        # single-submit maximum. Half of that one outran the workers (426/s against a 291/s
        # drain), and the percentiles then measured a queue growing for the phase's length.
        sizes, results = self.config.sizes, self.results
        idle = results.single_idle.tasks_per_s if results.single_idle else 0.0
        measured = [r for r in (results.drain_rate, idle) if r > 0]
        rate = max(min(measured, default=0.0) / 2, 1.0)
        count = max(min(sizes.half_max_tasks, int(rate * sizes.latency_s)), 2)
        self.config.say(f"project: latency at {rate:.0f}/s, half the end-to-end maximum ({count})")
        phase = self.submitted(
            workloads.submit_paced(
                self.config.api, self.cid("half"), rate_per_s=rate, count=count, threads=API_THREADS
            )
        )
        self.results.half = phase
        self.results.half_rate_asked = rate
        self.results.half_ms = workloads.latencies_ms(self.wait(phase), phase.sent_at)


def measure_drain(
    api: workloads.Api,
    conn: psycopg.Connection[Any],
    roots: dict[str, int],
    *,
    correlation_id: str,
    requests: int,
    since: datetime,
) -> DrainRound:
    """Submit `requests` batches of echo tasks, wait until every one finished, and read the CPU
    each process tree of `roots` spent meanwhile (the bench's drain, and bench-costs')."""
    # The bench's own connection polls for the end of the drain; its backend's CPU is the
    # bench's (about 0.25 ms per task while a backlog of thousands waits), not the stack's.
    own = {conn.info.backend_pid}
    before = procstat.cpu_ms(roots, exclude=own)
    phase = workloads.submit_closed(
        api,
        correlation_id,
        threads=BATCH_THREADS,
        duration_s=3600,
        max_requests=requests,
        batch_size=BATCH_SIZE,
    )
    workloads.wait_finished(conn, [correlation_id], since, 600)
    spent = procstat.delta(before, procstat.cpu_ms(roots, exclude=own))
    rate, span_s = workloads.drain_rate(workloads.read_rows(conn, [correlation_id], since))
    return DrainRound(phase, rate, span_s, {n: ms / phase.accepted for n, ms in spent.items()})


def vacuum(database_url: str) -> None:
    """Collect the garbage earlier runs left in the task tables, and refresh their statistics.

    Each full run leaves some 20,000 dead row versions; without this, autovacuum started in
    whichever phase of a later run crossed its threshold, and that phase's database CPU per
    task came out up to twice as high as the same phase's in the run before.
    """
    with psycopg.connect(baseline_pg.conninfo(database_url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) tasks, task_attempts, task_effects, outbox")


def pick_medians(results: Results) -> None:
    """Each side's median round as the run's figure (plan.py, Results)."""
    raw = median_round(results.raw_rounds, lambda r: r.drain.rate)
    results.raw_drain = raw.drain
    results.raw_cpu_per_task_ms = median_per_key([r.cpu_per_task_ms for r in results.raw_rounds])
    drain = median_round(results.drain_rounds, lambda r: r.rate)
    results.drain, results.drain_rate, results.drain_span_s = drain.phase, drain.rate, drain.span_s
    results.drain_cpu_per_task_ms = median_per_key(
        [r.cpu_per_task_ms for r in results.drain_rounds]
    )
    results.pg_single = median_round(results.pg_single_rounds, lambda r: r.rate)
    results.single_idle = median_round(results.single_idle_rounds, lambda r: r.tasks_per_s)


def run_project(
    config: Config, results: Results, pids: dict[str, int], baselines: Baselines
) -> None:
    """The project's phases, each drain right after a raw Celery drain, then the correctness
    gate over every task they submitted."""
    config.say("project: VACUUM (ANALYZE) of the task tables, so the runs start alike")
    vacuum(config.database_url)
    with psycopg.connect(baseline_pg.conninfo(config.database_url)) as conn:
        project = _Project(config, results, conn, baselines)
        project.counters.resume()
        results.stack_pool = procstat.tree_size(pids["worker"]) - 1
        for _ in range(config.sizes.rounds):
            baselines.raw_drain()
            project.drain(pids)
        timed(results, "low_rate", project.low_rate)
        timed(results, "api_alone", project.api_alone)
        pick_medians(results)
        timed(results, "while_draining", project.while_draining)
        timed(results, "half_max", project.half_max)
        project.counters.pause()
        # The API-alone phases restarted the worker; Flower kept running.
        results.flower_rss_mib["after"] = procstat.rss_mib(pids["flower"])
        results.counters = dict(project.counters.total)
        rows = workloads.read_rows(conn, [p.correlation_id for p in project.phases], project.since)
        results.gate = check(
            rows,
            project.phases,
            duplicate_deliveries=results.counters.get(DUPLICATES, 0.0),
            retries=results.counters.get(RETRIES, 0.0),
        )
