"""Heartbeat files: a process's loop touches one after each step; a liveness probe checks its age.

`python -m taskkit.heartbeat FILE --max-age-s 60` exits 0 when FILE was touched within the last
60 seconds and 1 otherwise, so a Kubernetes exec probe proves the loop is turning, not only that
the process exists or that a port answers.
"""

import argparse
import sys
import time
from pathlib import Path


def touch(path: Path) -> None:
    """Record a beat (creating the file and its folder on first use)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def age_s(path: Path, now: float | None = None) -> float | None:
    """Seconds since the last beat; None when there was none."""
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    return max((now if now is not None else time.time()) - mtime, 0.0)


def main(argv: list[str] | None = None) -> int:
    """The probe: 0 when the heartbeat is fresh, 1 when stale or missing."""
    parser = argparse.ArgumentParser(prog="python -m taskkit.heartbeat", description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--max-age-s", type=float, default=60.0)
    args = parser.parse_args(argv)
    age = age_s(args.file)
    if age is None:
        print(f"no heartbeat at {args.file}", file=sys.stderr)
        return 1
    if age > args.max_age_s:
        print(f"heartbeat {age:.0f}s old (limit {args.max_age_s:.0f}s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
