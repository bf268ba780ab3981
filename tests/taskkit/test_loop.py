"""The process loop: steps until stopped, backs off after a retried error, beats after each step;
the heartbeat probe tells a fresh file from a stale or missing one."""

import os
import time

from taskkit import heartbeat
from taskkit.loop import ProcessLoop


def test_the_loop_runs_steps_until_stopped_and_touches_its_heartbeat(tmp_path):
    beat = tmp_path / "run" / "beat"
    loop = ProcessLoop("test", heartbeat_file=beat)
    calls: list[int] = []

    def step() -> float:
        calls.append(1)
        if len(calls) == 3:
            loop.stop.set()
        return 0.0

    loop.run(step)
    assert len(calls) == 3
    assert heartbeat.age_s(beat) is not None


def test_a_retried_error_is_reported_and_waits_the_backoff():
    errors: list[BaseException] = []
    loop = ProcessLoop("test", retry_on=(OSError,), error_backoff_s=0.05, on_error=errors.append)
    started = time.monotonic()
    count = 0

    def step() -> float:
        nonlocal count
        count += 1
        if count == 1:
            raise OSError("down")
        loop.stop.set()
        return 0.0

    loop.run(step)
    assert [type(e) for e in errors] == [OSError]
    assert time.monotonic() - started >= 0.05


def test_a_thread_loop_stops_with_its_parent():
    parent = ProcessLoop("parent")
    child = ProcessLoop("child", stop=parent.stop)
    thread = child.start_thread(lambda: 0.01)
    parent.stop.set()
    thread.join(2)
    assert not thread.is_alive()


def test_the_probe_accepts_a_fresh_heartbeat_and_refuses_a_stale_or_missing_one(tmp_path):
    beat = tmp_path / "beat"
    assert heartbeat.main([str(beat)]) == 1
    heartbeat.touch(beat)
    assert heartbeat.main([str(beat), "--max-age-s", "30"]) == 0
    old = time.time() - 120
    os.utime(beat, (old, old))
    assert heartbeat.main([str(beat), "--max-age-s", "30"]) == 1
