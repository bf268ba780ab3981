"""The bench's report: rows of figures, each with the number it is compared with, the ratio,
the target and whether it is met; printed as one rich table and written as JSON."""

import json
import math
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

QUANTILES = {"p50": 49, "p95": 94, "p99": 98}


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50, p95 and p99 (the inclusive method, so a small sample stays within its range)."""
    if not values:
        raise ValueError("no samples")
    if len(values) == 1:
        return dict.fromkeys(QUANTILES, float(values[0]))
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {name: cuts[index] for name, index in QUANTILES.items()}


@dataclass(frozen=True)
class Target:
    """A target on a row's ratio (`ratio`) or on its value (`value`), at least or at most."""

    on: str
    bound: float
    at_most: bool = False

    def text(self) -> str:
        """The target as the table shows it."""
        sign = "≤" if self.at_most else "≥"
        return f"{sign} {self.bound:g}x" if self.on == "ratio" else f"{sign} {self.bound:g}"

    def met(self, value: float, ratio: float | None) -> bool:
        """Whether the figure meets the target."""
        subject = ratio if self.on == "ratio" else value
        if subject is None:
            return False
        return subject <= self.bound if self.at_most else subject >= self.bound


@dataclass(frozen=True)
class Row:
    """One figure of the report."""

    section: str
    key: str
    label: str
    value: float
    unit: str
    versus: str | None = None
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None


class Report:
    """Rows in the order they are added; a row may be compared with an earlier row."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self._by_key: dict[str, Row] = {}

    def add(
        self,
        section: str,
        key: str,
        label: str,
        value: float,
        unit: str,
        *,
        versus: str | None = None,
        target: Target | None = None,
    ) -> Row:
        """Add a figure; `versus` names the row its ratio divides by."""
        ratio = None
        if versus is not None:
            base = self._by_key[versus].value
            ratio = value / base if base else math.inf
        row = Row(
            section,
            key,
            label,
            float(value),
            unit,
            versus,
            ratio,
            target.text() if target else None,
            target.met(value, ratio) if target else None,
        )
        self.rows.append(row)
        self._by_key[key] = row
        return row

    def table(self, title: str) -> Table:
        """All rows as one table, a section per group."""
        table = Table(title=title, title_justify="left", show_lines=False)
        for name, justify in [
            ("figure", "left"),
            ("value", "right"),
            ("unit", "left"),
            ("vs", "left"),
            ("ratio", "right"),
            ("target", "left"),
            ("met", "center"),
        ]:
            table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
        section = None
        for row in self.rows:
            if row.section != section:
                if section is not None:
                    table.add_section()
                table.add_row(f"[bold]{row.section}[/bold]")
                section = row.section
            versus = row.versus or ""
            met = "" if row.met is None else ("[green]yes[/green]" if row.met else "[red]no[/red]")
            table.add_row(
                "  " + row.label,
                _number(row.value),
                row.unit,
                versus,
                f"{row.ratio:.2f}" if row.ratio is not None else "",
                row.target or "",
                met,
            )
        return table

    def print(self, title: str) -> None:
        """Print the table on stdout (160 columns wide when stdout is not a terminal)."""
        console = Console(width=None if sys.stdout.isatty() else 160)
        console.print(self.table(title))

    def write_json(self, path: Path, meta: dict[str, Any]) -> None:
        """Write the rows and `meta` as JSON; NaN or infinity is an error, never written."""
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {**meta, "rows": [asdict(r) for r in self.rows]}
        path.write_text(json.dumps(document, indent=2, allow_nan=False, default=str) + "\n")


def _number(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"
