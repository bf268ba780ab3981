"""Small modules with one job: no module of the service, its client, its scripts or its
benchmark grows past 300 lines (tests and migrations aside)."""

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_LINES = 300


def tracked_modules() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    return [
        REPO / name
        for name in listed
        if not name.startswith("tests/") and "/migrations/" not in name
    ]


def test_no_module_is_over_three_hundred_lines():
    modules = tracked_modules()
    assert len(modules) > 50, modules
    long = {
        str(path.relative_to(REPO)): n
        for path in modules
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"
