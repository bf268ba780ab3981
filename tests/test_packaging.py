"""`pip install .` gives a working install: pyproject.toml lists every package the code imports,
and every package of the code."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PACKAGES = ("webapp", "relay", "bridge", "celery_tasks", "taskctl", "db", "taskkit")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_top_levels() -> set[str]:
    found: set[str] = set()
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found


def test_every_third_party_import_is_a_declared_dependency():
    declared = {
        _normalise(re.split(r"[\[<>=!~; ]", dep, maxsplit=1)[0])
        for dep in PYPROJECT["project"]["dependencies"]
    }
    distributions = packages_distributions()
    missing = []
    for name in sorted(_imported_top_levels()):
        if name in PACKAGES or name in sys.stdlib_module_names:
            continue
        owners = {_normalise(d) for d in distributions.get(name, [name])}
        if not owners & declared:
            missing.append(f"{name} (from {', '.join(sorted(owners))})")
    assert not missing, f"imported but not in pyproject.toml dependencies: {missing}"


def test_every_package_of_the_code_is_packaged():
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    on_disk = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests"}
    assert on_disk == set(PACKAGES)
    assert {pattern.rstrip("*") for pattern in include} == set(PACKAGES)


def test_the_console_script_points_at_the_cli_package():
    assert PYPROJECT["project"]["scripts"]["taskctl"] == "taskctl.cli:main"


def test_the_console_s_templates_and_static_files_are_package_data():
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["webapp"]
    root = REPO / "webapp"
    files = [
        p for folder in ("console/templates", "console/static") for p in (root / folder).rglob("*")
    ]
    assert files
    for path in files:
        if path.is_file():
            relative = path.relative_to(root)
            assert any(relative.match(pattern) for pattern in patterns), relative
