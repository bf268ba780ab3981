"""The bench's CPU accounting from /proc (ops/bench/procstat.py): a process tree's time includes
its live descendants, and a process named in `exclude` is left out of its tree's sum."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "ops" / "bench"))

import procstat

# The tree under test is a parent that burns a little CPU, starts a child that burns more, and
# then both sleep until killed. Once both are asleep their ticks stay still, so the sums can be
# compared exactly. (The pytest process itself is no good as a root: under `make test` it has
# other busy descendants whose ticks grow between two reads.)
BURN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass\n"
CHILD = BURN.format(seconds=0.5) + "time.sleep(120)\n"
PARENT = (
    BURN.format(seconds=0.2)
    + "import subprocess, sys\n"
    + f"child = subprocess.Popen([sys.executable, '-c', {CHILD!r}])\n"
    + "print(child.pid, flush=True)\n"
    + "time.sleep(120)\n"
)


@dataclass(frozen=True)
class Tree:
    parent: int
    child: int


@pytest.fixture
def tree() -> Iterator[Tree]:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        deadline = time.monotonic() + 20
        while not (_asleep(parent.pid) and _asleep(child) and _ms(child) >= 450):
            assert time.monotonic() < deadline, "the child never burnt its CPU"
            time.sleep(0.05)
        yield Tree(parent.pid, child)
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()


def test_a_tree_counts_its_live_children(tree: Tree) -> None:
    whole = procstat.cpu_ms({"tree": tree.parent})["tree"]
    assert _ms(tree.child) >= 450
    assert _ms(tree.parent) >= 150
    assert whole == _ms(tree.parent) + _ms(tree.child)


def test_an_excluded_process_is_left_out_of_its_tree(tree: Tree) -> None:
    roots = {"tree": tree.parent}
    counted = procstat.cpu_ms(roots)["tree"]
    without = procstat.cpu_ms(roots, exclude={tree.child})["tree"]
    assert counted - without == _ms(tree.child) >= 450
    assert without == _ms(tree.parent)


def test_excluding_the_root_leaves_its_children(tree: Tree) -> None:
    without_root = procstat.cpu_ms({"tree": tree.parent}, exclude={tree.parent})["tree"]
    with_root = procstat.cpu_ms({"tree": tree.parent})["tree"]
    assert without_root == _ms(tree.child) >= 450
    assert with_root - without_root == _ms(tree.parent) >= 150


def test_a_gone_root_counts_nothing() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert procstat.cpu_ms({"gone": gone.pid})["gone"] == 0


def _asleep(pid: int) -> bool:
    """Whether the process is sleeping (state S), so its ticks no longer grow."""
    entry = procstat.read_stat(pid)
    return entry is not None and entry.state == "S"


def _ms(pid: int) -> float:
    """CPU milliseconds a process has used so far (its reaped children included)."""
    entry = procstat.read_stat(pid)
    assert entry is not None
    return entry.ticks * 1000 / procstat.CLK_TCK
