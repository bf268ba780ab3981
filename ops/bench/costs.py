"""What a part of the stack costs per task: `make bench-costs`, or
`.venv/bin/python ops/bench/costs.py --part flower --part replica`.

Issue 12 asks, for every guarantee that costs a measurable share, how much. Some parts can be
switched off for a drain without touching the code: Flower (the live view; the worker still
publishes its task events, so this measures Flower's own share) and the streaming replica
(with it goes the primary's WAL sender). This drains the running stack with the part on and
off in alternating pairs and reports what the part cost per task.

Why pairs and a yardstick: on this shared machine the same stack measured 5.1 to 8.7 ms of CPU
per task in drains minutes apart, every process alike (the worker's CPU over PostgreSQL's moved
less than 3 %). So each pair compares its two drains through the processes the part does not
touch, its yardstick: the drain without the part is scaled by how much the yardstick's CPU per
task moved between the two drains, and what the drain with the part cost above that is the
part's cost. The median over the pairs is the figure. Nothing here is a target; the figures go
in the closing notes and docs/capacity.md.

It stops and starts the parts through ops/stack.sh and always starts them again at the end. It
submits echo tasks through the batch API, as the bench's drain does; run it under the stack
lock where others share the stack (`flock /tmp/taskservice-stack.lock make bench-costs`).
"""

import secrets
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import psycopg
from rich.console import Console
from rich.table import Table

import backlog
import baseline_pg
import phases
import workloads
from plan import BATCH_SIZE
from stack import REQUIRED, Stack, ensure_api_key

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Part:
    """A part of the stack a drain can run without, and the processes whose CPU it changes
    besides its own (they are left out of the yardstick)."""

    name: str
    label: str
    components: tuple[str, ...]
    touches: tuple[str, ...]

    @property
    def excluded(self) -> frozenset[str]:
        """The components the yardstick leaves out."""
        return frozenset(self.components + self.touches)


PARTS = {
    part.name: part
    for part in (
        # Redis delivers every event message to Flower's subscription.
        Part("flower", "Flower, the live view of tasks and workers", ("flower",), ("redis",)),
        # The primary's WAL sender runs inside the postgres tree.
        Part(
            "replica",
            "the streaming replica and the primary's WAL sender",
            ("replica",),
            ("postgres",),
        ),
    )
}


@dataclass(frozen=True)
class Drain:
    """CPU milliseconds per task of each component during one drain, and its rate."""

    per_task: Mapping[str, float]
    rate: float

    @property
    def total(self) -> float:
        """Every component's CPU per task."""
        return sum(self.per_task.values())


@dataclass(frozen=True)
class Pair:
    """One drain with the part and one without, taken back to back."""

    with_part: Drain
    without: Drain
    excluded: frozenset[str]

    def yardstick(self, drain: Drain) -> float:
        """CPU per task of the processes the part does not touch, in both drains alike."""
        shared = set(self.with_part.per_task) & set(self.without.per_task)
        return sum(drain.per_task[name] for name in shared - self.excluded)

    @property
    def drift(self) -> float:
        """How much more the yardstick cost per task in the drain with the part."""
        before, after = self.yardstick(self.without), self.yardstick(self.with_part)
        if before <= 0 or after <= 0:
            raise ValueError("the yardstick processes used no CPU in one of the drains")
        return after / before

    @property
    def cost(self) -> float:
        """CPU ms per task the part added, the drain without it scaled by the drift."""
        return self.with_part.total - self.without.total * self.drift


def median_cost(pairs: list[Pair]) -> tuple[float, float]:
    """The median cost over the pairs, in ms per task and as a share of the drains with it."""
    if not pairs:
        raise ValueError("no pairs")
    cost = statistics.median(p.cost for p in pairs)
    return cost, cost / statistics.median(p.with_part.total for p in pairs)


class Runner:
    """Drains of the running stack, each measured from /proc like the bench's drain."""

    def __init__(self, stack: Stack, api: workloads.Api, conn: psycopg.Connection[Any]) -> None:
        self.stack = stack
        self.api = api
        self.conn = conn
        self.since = datetime.now(UTC) - timedelta(seconds=5)

    def drain(self, tasks: int) -> Drain:
        """Drain `tasks` echo tasks as the bench's drain does and read each process's CPU."""
        roots = self.stack.cpu_roots(self.stack.pids())
        drained = phases.measure_drain(
            self.api,
            self.conn,
            roots,
            correlation_id=f"bench-costs-{secrets.token_hex(4)}",
            requests=max(tasks // BATCH_SIZE, 1),
            since=self.since,
        )
        return Drain(drained.cpu_per_task_ms, drained.rate)

    def pairs(self, part: Part, count: int, tasks: int, say: Callable[[str], None]) -> list[Pair]:
        """`count` pairs, the order swapped every other pair; the part runs again at the end."""
        pairs: list[Pair] = []
        try:
            for number in range(1, count + 1):
                order = (True, False) if number % 2 else (False, True)
                drains: dict[bool, Drain] = {}
                for running in order:
                    self.switch(part, running)
                    drains[running] = self.drain(tasks)
                    state = "with" if running else "without"
                    done = drains[running]
                    say(
                        f"{part.name} pair {number}, {state}: {done.total:.2f} ms/task,"
                        f" {done.rate:.0f} tasks/s"
                    )
                pairs.append(Pair(drains[True], drains[False], part.excluded))
        finally:
            self.switch(part, True)
        return pairs

    def switch(self, part: Part, running: bool) -> None:
        """Start or stop the part's components, then let the stack settle."""
        if running:
            self.stack.start(part.components)
        else:
            self.stack.stop(part.components)
        time.sleep(2)


def table(results: dict[str, list[Pair]]) -> Table:
    """One row per part: its cost per task, its share, and every pair's figures."""
    out = Table(
        title="What each part costs per task (CPU ms, medians of pairs)", title_justify="left"
    )
    for name in (
        "part",
        "left out of the yardstick",
        "cost",
        "share",
        "pairs: with / without / drift",
    ):
        out.add_column(name)
    for name, pairs in results.items():
        part = PARTS[name]
        cost, share = median_cost(pairs)
        detail = "; ".join(
            f"{p.with_part.total:.2f} / {p.without.total:.2f} / {p.drift:.2f}" for p in pairs
        )
        left_out = ", ".join(sorted(part.excluded))
        out.add_row(part.label, left_out, f"{cost:.2f} ms", f"{share:.0%}", detail)
    return out


@click.command()
@click.option(
    "--part",
    "parts",
    type=click.Choice(sorted(PARTS)),
    multiple=True,
    help="A part to measure (repeatable); every part when none is given.",
)
@click.option("--pairs", default=3, show_default=True, help="Pairs of drains per part.")
@click.option("--tasks", default=4000, show_default=True, help="Echo tasks per drain.")
@click.option("--url", default="http://127.0.0.1:8080", show_default=True, help="The API.")
@click.option(
    "--key-file",
    type=click.Path(path_type=Path),
    default=REPO / ".stack" / "bench-api-key",
    show_default=".stack/bench-api-key",
)
@click.option(
    "--database-url",
    envvar="DATABASE_URL",
    default="postgresql+psycopg://tasks:tasks@127.0.0.1:5432/tasks",
    show_default="DATABASE_URL or the local stack's",
)
def main(  # noqa: PLR0917 - click passes every option by name.
    parts: tuple[str, ...], pairs: int, tasks: int, url: str, key_file: Path, database_url: str
) -> None:
    """Drain the stack with and without each part; print what each part cost per task."""
    if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise click.BadParameter("the bench only targets this machine", param_hint="--url")
    if pairs < 1 or tasks < BATCH_SIZE:
        raise click.BadParameter(f"at least one pair of {BATCH_SIZE} tasks")
    stack = Stack(REPO)
    stack.require(REQUIRED)
    api = workloads.Api(url, ensure_api_key(key_file))
    # Work submitted before (a load test, the API-alone phases of a bench cut short) would
    # be drained inside the first drain.
    backlog.wait_for_no_backlog(database_url, _say)
    results: dict[str, list[Pair]] = {}
    with psycopg.connect(baseline_pg.conninfo(database_url)) as conn:
        runner = Runner(stack, api, conn)
        for name in parts or sorted(PARTS):
            results[name] = runner.pairs(PARTS[name], pairs, tasks, say=_say)
    # Wide enough for every pair on one line when the output goes to a file (as report.py).
    Console(width=None if sys.stdout.isatty() else 160).print(table(results))


def _say(line: str) -> None:
    click.echo(f"[bench-costs] {line}", err=True)


if __name__ == "__main__":
    main()
