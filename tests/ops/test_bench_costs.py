"""`ops/bench/costs.py`'s arithmetic: a part's cost is what the drain with it cost above the
drain without it, once the drain without it is scaled by how much the yardstick process moved
between the two. Pure logic; the drains themselves need the whole stack and stop parts of it,
so they run by hand (`make bench-costs`), never in the suite."""

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "ops" / "bench"
# The bench's modules import each other by name, as `ops/bench/costs.py` (a script) sees them.
sys.path.insert(0, str(BENCH))

from costs import PARTS, Drain, Pair, median_cost  # noqa: E402

FLOWER = PARTS["flower"].excluded
REPLICA = PARTS["replica"].excluded


def drain(**per_task: float) -> Drain:
    return Drain(per_task, rate=300.0)


def test_a_machine_that_ran_alike_leaves_the_parts_own_cpu_as_its_cost():
    pair = Pair(
        drain(worker=3.0, postgres=1.2, flower=0.5),
        drain(worker=3.0, postgres=1.2),
        excluded=FLOWER,
    )

    assert pair.drift == pytest.approx(1.0)
    assert pair.cost == pytest.approx(0.5)


def test_a_slower_machine_in_the_drain_with_the_part_is_not_counted_as_the_parts_cost():
    # Every process cost 20 % more in the drain with Flower; only Flower's 0.6 is its own.
    pair = Pair(
        drain(worker=3.6, postgres=1.44, flower=0.6),
        drain(worker=3.0, postgres=1.2),
        excluded=FLOWER,
    )

    assert pair.drift == pytest.approx(1.2)
    assert pair.cost == pytest.approx(0.6)
    # The plain difference would have put a fifth of the rest on Flower.
    assert pair.with_part.total - pair.without.total == pytest.approx(1.44)


def test_a_part_that_also_costs_inside_other_processes_is_counted_there_too():
    # Without the replica the primary's WAL sender is gone as well: postgres shrinks.
    pair = Pair(
        drain(worker=3.0, postgres=1.4, replica=0.4),
        drain(worker=3.0, postgres=1.2),
        excluded=REPLICA,
    )

    assert pair.cost == pytest.approx(0.6)


def test_the_figure_is_the_median_pair_and_its_share_of_the_median_drain():
    pairs = [
        Pair(drain(postgres=1.0, flower=c), drain(postgres=1.0), excluded=FLOWER)
        for c in (0.3, 0.5, 0.9)
    ]

    cost, share = median_cost(pairs)

    assert cost == pytest.approx(0.5)
    assert share == pytest.approx(0.5 / 1.5)


def test_a_yardstick_that_did_not_run_is_an_error_not_a_zero_cost():
    pair = Pair(drain(postgres=0.0, flower=0.5), drain(postgres=0.0), excluded=FLOWER)

    with pytest.raises(ValueError, match="yardstick"):
        _ = pair.cost
    with pytest.raises(ValueError, match="no pairs"):
        median_cost([])


def test_the_yardstick_leaves_out_the_part_what_it_touches_and_what_one_drain_lacks():
    # Flower's pair: Redis is touched (it delivers the events to Flower); the API ran in the
    # drain with Flower only, so it cannot be compared either.
    pair = Pair(
        drain(worker=3.3, postgres=1.1, redis=0.4, flower=0.5, api=0.2),
        drain(worker=3.0, postgres=1.0, redis=0.25),
        excluded=FLOWER,
    )

    assert pair.yardstick(pair.with_part) == pytest.approx(4.4)
    assert pair.yardstick(pair.without) == pytest.approx(4.0)
    assert pair.drift == pytest.approx(1.1)


def test_no_part_measures_drift_with_its_own_processes():
    for part in PARTS.values():
        assert set(part.components) <= part.excluded
