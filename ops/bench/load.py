"""Load drivers shared by the baselines and the workloads: a closed loop (N threads, each as
fast as it can, bounded by a duration and a budget of operations) and an open loop at a fixed
rate (operations start on a schedule, whatever the previous ones took)."""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

S = TypeVar("S")


@dataclass(frozen=True)
class LoopResult:
    """How many operations ran and over how long."""

    ops: int
    seconds: float

    @property
    def rate(self) -> float:
        """Operations per second."""
        return self.ops / self.seconds if self.seconds > 0 else 0.0


class _Budget:
    def __init__(self, total: int) -> None:
        self._left = total
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """A ticket number, or None when the budget is spent."""
        with self._lock:
            if self._left <= 0:
                return None
            self._left -= 1
            return self._left

    def remaining(self) -> int:
        """Tickets not handed out."""
        with self._lock:
            return self._left


@dataclass
class Driver(Generic[S]):
    """Runs `op(state, index)` from `threads` threads; `setup` makes each thread's state (its
    connection) and `teardown` closes it. An exception in any thread stops the others and is
    raised again in the caller's thread."""

    setup: Callable[[], S]
    op: Callable[[S, int], None]
    teardown: Callable[[S], None]
    threads: int

    def closed(self, duration_s: float, max_ops: int) -> LoopResult:
        """Each thread runs operations back to back until the time or the budget is spent."""

        def body(state: S, budget: _Budget, started: float) -> None:
            while time.monotonic() < started + duration_s:
                left = budget.take()
                if left is None:
                    return
                self.op(state, max_ops - 1 - left)

        return self._run(body, max_ops)

    def paced(self, rate_per_s: float, count: int) -> LoopResult:
        """Operation i starts at i / rate seconds after the start, on whichever thread is free."""

        def body(state: S, budget: _Budget, started: float) -> None:
            while True:
                left = budget.take()
                if left is None:
                    return
                index = count - 1 - left
                pause = started + index / rate_per_s - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                self.op(state, index)

        return self._run(body, count)

    def _run(self, body: Callable[[S, _Budget, float], None], max_ops: int) -> LoopResult:
        budget = _Budget(max_ops)
        states = [self.setup() for _ in range(self.threads)]
        errors: list[BaseException] = []

        def guarded(state: S, started: float) -> None:
            try:
                body(state, budget, started)
            except BaseException as err:  # noqa: BLE001 - raised again in the caller's thread.
                errors.append(err)
                # Spend the budget so every other thread stops before its next operation.
                while budget.take() is not None:
                    pass

        started = time.monotonic()
        workers = [threading.Thread(target=guarded, args=(s, started)) for s in states]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.monotonic() - started
        for state in states:
            self.teardown(state)
        if errors:
            raise errors[0]
        return LoopResult(max_ops - budget.remaining(), elapsed)
