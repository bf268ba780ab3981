"""The local stack as the bench sees it: which components run (and their pids), stopping and
starting some of them through ops/stack.sh, the worker's counters, and the bench's API key."""

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

# The components the bench needs running; the CPU table covers them and any other component
# that runs (a stack may have more), in the order of the data flow.
REQUIRED = (
    "api",
    "relay",
    "bridge",
    "worker",
    "beat",
    "flower",
    "postgres",
    "replica",
    "redis",
    "kafka",
)
# Prometheus scrapes on a timer, whatever the load, so its cost is not a cost per task.
# supervisord's tree holds every application process, which the table counts one by one.
NOT_PER_TASK = ("prometheus", "supervisord")
DUPLICATES = "task_duplicate_deliveries_total"
RETRIES = "task_retry_count_total"


class StackError(Exception):
    """Raised when the stack is not in the state the bench needs, or a component will not start."""


@dataclass(frozen=True)
class Stack:
    """The checkout whose ops/stack.sh runs the stack (it may be another worktree)."""

    repo: Path
    worker_metrics_url: str = "http://127.0.0.1:9103/metrics"

    def _run(self, *args: str) -> str:
        # The stack's processes must run the stack checkout's code: a PYTHONPATH that points at
        # this checkout would leak into every process stack.sh starts.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        done = subprocess.run(
            [str(self.repo / "ops" / "stack.sh"), *args],
            cwd=self.repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if done.returncode != 0:
            raise StackError(f"ops/stack.sh {' '.join(args)} failed: {done.stderr.strip()[-800:]}")
        return done.stdout

    def pids(self) -> dict[str, int]:
        """The pid of every running component (`ops/stack.sh status`)."""
        running: dict[str, int] = {}
        for line in self._run("status").splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[1] == "running" and parts[2].startswith("pid="):
                running[parts[0]] = int(parts[2].removeprefix("pid="))
        return running

    def require(self, names: Iterable[str]) -> dict[str, int]:
        """The pids of the named components; StackError naming those that are not running."""
        running = self.pids()
        missing = [n for n in names if n not in running]
        if missing:
            raise StackError(
                f"stack components not running: {', '.join(missing)} (start them with "
                f"{self.repo / 'ops' / 'stack.sh'} up)"
            )
        return running

    def cpu_roots(self, running: dict[str, int]) -> dict[str, int]:
        """The root pid of every running component whose CPU time counts per task."""
        order = [n for n in REQUIRED if n in running]
        order += [n for n in running if n not in REQUIRED and n not in NOT_PER_TASK]
        return {name: running[name] for name in order}

    def stop(self, names: Iterable[str]) -> None:
        """Stop components in parallel (stack.sh stops each within its grace period)."""
        self._parallel("stop", names)

    def start(self, names: Iterable[str]) -> None:
        """Start components in parallel; stack.sh waits until each proved itself alive."""
        self._parallel("start", names)

    def _parallel(self, verb: str, names: Iterable[str]) -> None:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        procs = {
            name: subprocess.Popen(
                [str(self.repo / "ops" / "stack.sh"), verb, name],
                cwd=self.repo,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in names
        }
        failed = []
        for name, proc in procs.items():
            _, err = proc.communicate(timeout=180)
            if proc.returncode != 0:
                failed.append(f"{name}: {err.strip()[-400:]}")
        if failed:
            raise StackError(f"ops/stack.sh {verb} failed for " + "; ".join(failed))

    def worker_counters(self) -> dict[str, float]:
        """The worker's duplicate-delivery and retry counters, each summed over its labels."""
        with urllib.request.urlopen(self.worker_metrics_url, timeout=5) as response:  # noqa: S310 - a fixed local URL.
            text = response.read().decode()
        sums = {DUPLICATES: 0.0, RETRIES: 0.0}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in sums:
                    sums[sample.name] += sample.value
        return sums


@dataclass
class CounterDeltas:
    """Counter increases summed over the lifetimes of the worker: a restarted worker starts its
    counters at zero again (stack.sh gives it a fresh metrics folder)."""

    stack: Stack
    base: dict[str, float] = field(default_factory=dict)
    total: dict[str, float] = field(default_factory=dict)

    def resume(self) -> None:
        """Take the current values as the base (at the start, and after the worker started)."""
        self.base = self.stack.worker_counters()

    def pause(self) -> None:
        """Add what the counters grew since the base (before the worker stops, and at the end)."""
        now = self.stack.worker_counters()
        for name, value in now.items():
            self.total[name] = self.total.get(name, 0.0) + max(value - self.base.get(name, 0), 0)
        self.base = now


def ensure_api_key(key_file: Path) -> str:
    """The bench's API key (tenant `bench`, a rate limit no run reaches), created when missing."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "taskctl",
            "apikey",
            "ensure",
            "--key-file",
            str(key_file),
            "--name",
            "bench",
            "--tenant",
            "bench",
            "--scope",
            "submit,read",
            "--rate-limit",
            "10000000/minute",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise StackError(f"taskctl apikey ensure failed: {done.stderr.strip()[-400:]}")
    return done.stdout.strip().splitlines()[-1]
