"""The correctness gate of every run: each bench task the API accepted COMPLETED exactly once.

Exactly once means: a row exists for every accepted id, its status is COMPLETED, it has exactly
one `task_effects` row, written by its last attempt, and it took one attempt, unless the worker
counted retries (then as many tasks as retries may have taken more). Duplicate deliveries are
reported beside it, not failed on: the claim fences them, which is what the gate checks.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from workloads import Submissions, TaskRow


@dataclass
class GateResult:
    """What the gate counted and, when it failed, why."""

    accepted: int = 0
    rows: int = 0
    completed_once: int = 0
    multi_attempt: int = 0
    request_errors: int = 0
    duplicate_deliveries: float = 0.0
    retries: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every check held."""
        return not self.problems


def check(
    rows: Iterable[TaskRow],
    phases: Iterable[Submissions],
    *,
    duplicate_deliveries: float,
    retries: float,
) -> GateResult:
    """Check the rows of the run's phases against what the API accepted."""
    by_id = {r.id: r for r in rows}
    phase_list = list(phases)
    accepted = {task_id for p in phase_list for task_id in p.sent_at}
    result = GateResult(
        accepted=len(accepted),
        rows=len(by_id),
        request_errors=sum(p.errors for p in phase_list),
        duplicate_deliveries=duplicate_deliveries,
        retries=retries,
    )
    if result.request_errors:
        codes: Counter[int] = Counter()
        for p in phase_list:
            codes.update({c: n for c, n in p.statuses.items() if c != 202})
        result.problems.append(f"{result.request_errors} submits not accepted: {dict(codes)}")
    missing = accepted - by_id.keys()
    if missing:
        result.problems.append(f"{len(missing)} accepted tasks have no row")
    unexpected = by_id.keys() - accepted
    if unexpected:
        result.problems.append(f"{len(unexpected)} rows of the run's phases were never accepted")
    bad: Counter[str] = Counter()
    for task_id in accepted & by_id.keys():
        row = by_id[task_id]
        if row.status != "COMPLETED":
            bad[f"status {row.status}"] += 1
        elif row.effects != 1:
            bad[f"{row.effects} task_effects rows"] += 1
        elif row.effect_attempt != row.attempts:
            bad["effect written by an older attempt"] += 1
        else:
            result.completed_once += 1
        if row.attempts > 1:
            result.multi_attempt += 1
    if result.multi_attempt > retries:
        bad[f"more than one attempt with {retries:.0f} retries counted"] += result.multi_attempt
    result.problems.extend(f"{n} tasks: {what}" for what, n in sorted(bad.items()))
    return result
