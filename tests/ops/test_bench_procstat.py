"""The bench's CPU accounting from /proc (ops/bench/procstat.py): a process tree's time includes
its live descendants, and a process named in `exclude` is left out of its tree's sum."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "ops" / "bench"))

import procstat

# A child that burns CPU, then waits to be killed, so its ticks stay in its own /proc entry.
BURN = (
    "import time\n"
    "end = time.process_time() + 0.5\n"
    "while time.process_time() < end: pass\n"
    "time.sleep(60)"
)


@pytest.fixture
def busy_child() -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen([sys.executable, "-c", BURN])
    try:
        deadline = time.monotonic() + 20
        while True:
            entry = procstat.read_stat(child.pid)
            if entry is not None and entry.ticks * 1000 / procstat.CLK_TCK >= 450:
                break
            assert time.monotonic() < deadline, "the child never burnt its CPU"
            time.sleep(0.05)
        yield child
    finally:
        child.kill()
        child.wait()


def test_a_tree_counts_its_live_children(busy_child: subprocess.Popen[bytes]) -> None:
    own_before = _own_ms()
    mine = procstat.cpu_ms({"me": busy_child.pid})["me"]
    whole = procstat.cpu_ms({"tree": os.getpid()})["tree"]
    assert mine >= 450
    assert whole >= mine
    # This process's own ticks only grow, so what the tree holds beyond them is the child's.
    assert whole - own_before >= 450


def test_an_excluded_process_is_left_out_of_its_tree(busy_child: subprocess.Popen[bytes]) -> None:
    roots = {"tree": os.getpid()}
    counted = procstat.cpu_ms(roots)["tree"]
    without = procstat.cpu_ms(roots, exclude={busy_child.pid})["tree"]
    child = procstat.cpu_ms({"child": busy_child.pid})["child"]
    # The test process keeps running between the reads, so its own ticks may only grow.
    assert without <= counted - child + 50
    assert counted - without >= 450


def test_excluding_the_root_leaves_its_children(busy_child: subprocess.Popen[bytes]) -> None:
    parent = os.getpid()
    own_before = _own_ms()
    without_root = procstat.cpu_ms({"tree": parent}, exclude={parent})["tree"]
    with_root = procstat.cpu_ms({"tree": parent})["tree"]
    assert without_root >= 450
    assert with_root - without_root >= own_before > 0


def _own_ms() -> float:
    """CPU milliseconds this test process has used so far."""
    entry = procstat.read_stat(os.getpid())
    assert entry is not None
    return entry.ticks * 1000 / procstat.CLK_TCK
