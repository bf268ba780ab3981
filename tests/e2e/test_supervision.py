"""supervisord keeps the stack's application processes running: each one killed with SIGKILL
runs again within 10 s with no command typed, and tasks keep completing. Run under the stack
lock when others share the stack (it kills its processes)."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import API, submit, wait_for
from tests.e2e.drills import REPO, process_info, running_pid

# The API's master, the worker's parent: the process supervisord started, not its children.
PROCESSES = ("api", "relay", "bridge", "worker", "maintenance", "beat", "flower", "prometheus")
READY = {
    "api": f"{API}/healthz",
    "flower": "http://127.0.0.1:5555/metrics",
    "prometheus": "http://127.0.0.1:9090/-/ready",
}


def _answers(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        return False
    return True


@pytest.mark.timeout(600)
def test_every_application_process_killed_with_sigkill_runs_again_within_ten_seconds(api, http):
    restarted: dict[str, float] = {}
    ready: dict[str, float] = {}
    for name in PROCESSES:
        pid = running_pid(name)
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        while True:
            state, new_pid = process_info(name)
            if state == "RUNNING" and new_pid not in (0, pid):
                break
            assert time.monotonic() - killed < 10, f"{name} is {state} 10 s after kill -9"
            time.sleep(0.05)
        restarted[name] = time.monotonic() - killed
        if name in READY:
            while not _answers(READY[name]):
                assert time.monotonic() - killed < 60, f"{name} does not answer after kill -9"
                time.sleep(0.1)
        ready[name] = time.monotonic() - killed
        task = submit(http, {"type": "echo", "payload": {"after_kill": name}})
        view = wait_for(http, [task["id"]], timeout_s=60)[task["id"]]
        assert view["status"] == "COMPLETED", (name, view)
    print(
        "kill -9 -> RUNNING again (s): "
        + ", ".join(f"{n} {restarted[n]:.1f} (serving {ready[n]:.1f})" for n in PROCESSES)
    )


def _niceness(pid: int) -> int:
    # Field 19 of /proc/PID/stat, counted after the command name's closing parenthesis.
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[16])


def _configured_niceness(name: str) -> int:
    entries = (REPO / ".stack" / "env" / f"{name}.env").read_bytes().split(b"\0")
    for entry in entries:
        if entry.startswith(b"STACK_NICE="):
            return int(entry.split(b"=", 1)[1])
    return 0


def test_the_processes_behind_the_api_run_at_the_background_priority():
    assert _niceness(running_pid("api")) == 0
    assert _configured_niceness("api") == 0
    for name in PROCESSES[1:]:
        wanted = _configured_niceness(name)
        assert _niceness(running_pid(name)) == wanted, name
        # ops/stack.sh's default; BACKGROUND_NICE=0 would run everything alike.
        if os.environ.get("BACKGROUND_NICE") is None:
            assert wanted == 19, name


def _daemon_pids() -> dict[str, int]:
    """The pids `ops/stack.sh status` gives its daemons (lines `NAME running pid=N ...`)."""
    out = subprocess.run(
        [str(REPO / "ops" / "stack.sh"), "status"], capture_output=True, text=True, check=True
    ).stdout
    pids = {}
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1] == "running" and fields[2].startswith("pid="):
            pids[fields[0]] = int(fields[2].removeprefix("pid="))
    return pids


def test_kafka_and_the_replica_run_behind_the_api_too():
    # The API's submit path goes through the primary and Redis; Kafka serves only the relay
    # and the bridge, and reads fall back to the primary while the replica lags behind.
    pids = _daemon_pids()
    assert _niceness(pids["postgres"]) == 0
    assert _niceness(pids["redis"]) == 0
    background = int(os.environ.get("BACKGROUND_NICE", "19"))
    for name in ("kafka", "replica"):
        assert _niceness(pids[name]) == background, name
        # Each runs in a session of its own; where the kernel shares CPU between sessions first
        # (autogroup), the session's group carries the niceness, or the process's own is moot.
        # For the replica that is its postmaster's session: PostgreSQL's forks lead their own.
        group = _autogroup_niceness(pids[name])
        if group is not None:
            assert group == background, (name, group)
    for name in ("postgres", "redis"):
        assert _autogroup_niceness(pids[name]) in (None, 0), name


def _autogroup_niceness(pid: int) -> int | None:
    """The niceness of the autogroup PID's session is in (sched(7)); None without autogroup."""
    try:
        line = Path(f"/proc/{pid}/autogroup").read_text()
    except FileNotFoundError:
        return None
    enabled = Path("/proc/sys/kernel/sched_autogroup_enabled")
    if enabled.exists() and enabled.read_text().strip() == "0":
        return None
    # "/autogroup-6671 nice 19"
    return int(line.split()[-1])


def _cpu_cgroup(pid: int) -> str:
    """PID's path in the cpu controller's hierarchy (cgroup v1), else in the unified one."""
    unified = ""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(","):
            return path
        if controllers == "":
            unified = path
    return unified


def _children(pid: int) -> list[int]:
    # pgrep exits 1 when PID has no children.
    found = subprocess.run(["pgrep", "-P", str(pid)], check=False, capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def _no_cpu_groups() -> str | None:
    """Why the stack makes no cpu groups on this machine (ops/cpu_groups.sh), or None."""
    if os.geteuid() != 0:
        return "the stack makes cpu groups only as root"
    if os.environ.get("CPU_GROUPS") == "0":
        return "CPU_GROUPS=0 leaves them out"
    if not any(
        Path(p).exists()
        for p in ("/sys/fs/cgroup/cpu/cpu.shares", "/sys/fs/cgroup/cgroup.controllers")
    ):
        return "no cpu cgroup controller on this machine"
    return None


def test_the_api_and_the_database_run_in_heavy_cpu_groups_and_the_drain_in_a_light_one():
    reason = _no_cpu_groups()
    if reason is not None:
        # CI runs the stack as root on a machine with cgroups: there the groups must exist.
        if os.environ.get("CI"):
            pytest.fail(f"no cpu groups under CI: {reason}")
        pytest.skip(reason)
    daemons = _daemon_pids()
    wanted = {pid: "api" for pid in [running_pid("api"), *_children(running_pid("api"))]}
    # The postmaster and what it forks: the backends, the WAL writer, the WAL sender.
    wanted |= {pid: "database" for pid in [daemons["postgres"], *_children(daemons["postgres"])]}
    background = [running_pid(name) for name in PROCESSES[1:]]
    background += [daemons["kafka"], daemons["replica"], *_children(daemons["replica"])]
    background += _children(running_pid("worker"))  # the worker's pool
    wanted |= {pid: "background" for pid in background}
    assert len(wanted) > len(PROCESSES) + 6
    for pid, group in wanted.items():
        assert _cpu_cgroup(pid).endswith(f"/taskservice-{group}"), (pid, group, _cpu_cgroup(pid))
    # Redis serves both sides: it stays in the group the stack was started in.
    assert "/taskservice-" not in _cpu_cgroup(daemons["redis"])
    # The weights: cpu.shares (cgroup v1) or cpu.weight (v2) of each group.
    root, knob = Path("/sys/fs/cgroup/cpu"), "cpu.shares"
    if not (root / knob).exists():
        root, knob = Path("/sys/fs/cgroup"), "cpu.weight"
    weight = {
        group: int((root / _cpu_cgroup(pid).lstrip("/") / knob).read_text())
        for pid, group in wanted.items()
    }
    assert weight["background"] * 100 <= min(weight["api"], weight["database"]), weight
