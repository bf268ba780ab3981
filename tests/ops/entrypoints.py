"""Checks that a container's command runs an entry point of this repository (Compose and the
Helm chart both name them): a console script and its subcommands, a module with a main guard,
or a Celery app."""

import importlib
import importlib.util
import shlex
import tomllib
from pathlib import Path
from typing import Any

from taskctl.cli import main as taskctl

REPO = Path(__file__).resolve().parents[2]


def _check_taskctl(args: list[str]) -> None:
    group: Any = taskctl
    for word in args:
        if word.startswith("-") or not hasattr(group, "get_command"):
            break
        found = group.get_command(None, word)
        assert found is not None, f"taskctl has no command {word!r} ({args})"
        group = found


def check_entry_point(argv: list[str]) -> None:
    """Fail unless `argv` starts a process this repository provides."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    program = argv[0]
    if program == "sh":
        for step in argv[argv.index("-c") + 1].split("&&"):
            check_entry_point(shlex.split(step))
    elif program == "taskctl":
        assert "taskctl" in scripts
        _check_taskctl(argv[1:])
    elif program == "python":
        spec = importlib.util.find_spec(argv[argv.index("-m") + 1])
        assert spec is not None and spec.origin is not None
        # A package runs its __main__; a module must guard its main().
        origin = Path(spec.origin)
        source = (origin.parent / "__main__.py") if origin.name == "__init__.py" else origin
        assert 'if __name__ == "__main__":' in source.read_text(), source
    elif program == "celery":
        assert importlib.util.find_spec(argv[argv.index("-A") + 1]) is not None
    else:
        raise AssertionError(f"unknown entry point {program!r}")
