"""CPU time and resident memory of process trees, read from /proc (Linux only).

A component's CPU time is the sum over its process and every live descendant of utime + stime
+ cutime + cstime. The children's fields hold what each process's reaped children used, so a
API worker process or a PostgreSQL backend that exits between two samples still counts: its time
moves from its own fields into its parent's, and the sum stays the same.
"""

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcEntry:
    """The fields of /proc/PID/stat the bench reads."""

    pid: int
    ppid: int
    ticks: int
    # proc(5)'s one-letter state: "R" running, "S" sleeping, ...
    state: str


def read_stat(pid: int) -> ProcEntry | None:
    """Parse /proc/PID/stat; None when the process is gone."""
    try:
        line = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name in parentheses may hold spaces; the fields after the last ")" do not.
    fields = line[line.rindex(")") + 2 :].split()
    # fields[0] is field 3 of proc(5) (state): ppid is 4, utime..cstime are 14..17.
    ticks = sum(int(f) for f in fields[11:15])
    return ProcEntry(pid, int(fields[1]), ticks, fields[0])


def process_table() -> dict[int, ProcEntry]:
    """Every process visible in /proc, by pid."""
    table: dict[int, ProcEntry] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = read_stat(int(entry.name))
            if stat is not None:
                table[stat.pid] = stat
    return table


def descendants(table: Mapping[int, ProcEntry], root: int) -> list[int]:
    """The root and every live descendant of it (empty when the root is gone)."""
    if root not in table:
        return []
    children: dict[int, list[int]] = {}
    for entry in table.values():
        children.setdefault(entry.ppid, []).append(entry.pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_ms(roots: Mapping[str, int], exclude: Collection[int] = ()) -> dict[str, float]:
    """CPU milliseconds used so far by each named process tree (0 for a tree that is gone),
    leaving out the processes in `exclude`: the bench's own PostgreSQL backend is a child of
    the stack's postmaster, but its work is the bench's, not the stack's."""
    table = process_table()
    return {
        name: sum(table[pid].ticks for pid in descendants(table, root) if pid not in exclude)
        * 1000
        / CLK_TCK
        for name, root in roots.items()
    }


def tree_size(root: int) -> int:
    """How many processes the tree of `root` holds (the root included)."""
    return len(descendants(process_table(), root))


def rss_mib(pid: int) -> float:
    """A process's resident set size (VmRSS) in MiB; 0 when it is gone."""
    try:
        status = (PROC / str(pid) / "status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """What each tree used between two samples."""
    return {name: after[name] - before.get(name, 0.0) for name in after}
