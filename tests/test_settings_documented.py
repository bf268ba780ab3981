"""The README's settings table names every variable a process reads, and only those: a setting
added without a row, or a row left behind by a setting that is gone, fails here."""

import re
from pathlib import Path

from pydantic_settings import BaseSettings

from bridge.settings import BridgeSettings
from celery_tasks.settings import BrokerSettings, WorkerSettings
from relay.settings import RelaySettings
from taskctl.settings import CliSettings
from taskkit.settings import LogSettings, ServiceSettings
from webapp.settings import WebSettings

README = Path(__file__).resolve().parents[1] / "README.md"
CLASSES: tuple[type[ServiceSettings], ...] = (
    WebSettings,
    RelaySettings,
    BridgeSettings,
    BrokerSettings,
    WorkerSettings,
    CliSettings,
    LogSettings,
)
# Variables of the scripts and images, not of a settings class, that the table also explains.
SCRIPT_VARIABLES = {
    "API_WORKERS",
    "API_THREADS",
    "WORKER_CONCURRENCY",
    "WORKERS",
    "BRIDGES",
    "RELAYS",
    "FLOWER_BASIC_AUTH",
    "FLOWER_MAX_TASKS",
}


def read_variables() -> set[str]:
    """Every variable a settings class reads from the environment (nested settings aside)."""
    found: set[str] = set()
    for cls in CLASSES:
        for name, field in cls.model_fields.items():
            kind = field.annotation
            if isinstance(kind, type) and issubclass(kind, BaseSettings):
                continue
            found.add(cls.env_name(name))
    return found


def documented_variables() -> set[str]:
    """The variables named in the first column of the README's "Settings" table."""
    section = README.read_text().split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    return names


def test_every_setting_has_a_row_in_the_readme():
    missing = read_variables() - documented_variables()
    assert not missing, f"settings without a README row: {sorted(missing)}"


def test_every_row_of_the_readme_names_a_setting():
    unknown = documented_variables() - read_variables() - SCRIPT_VARIABLES
    assert not unknown, f"README rows for variables nothing reads: {sorted(unknown)}"
