"""The queue-health page: figures now, and the last hour as small inline SVG charts."""

from typing import Any

from flask import render_template

from webapp.console import charts
from webapp.console.access import signed_in
from webapp.console.blueprint import bp, console_state
from webapp.console.health_sources import QueueHealth, gather
from webapp.services import services

LINES = (
    ("oldest_pending_s", "Oldest PENDING task (s)"),
    ("lag", "Kafka consumer lag (records)"),
    ("dlt_depth", "Dead-letter topic depth (records)"),
    ("workers", "Workers online"),
)
BARS = (("completed", "Completed per minute"), ("failed", "Failed per minute"))


def _charts(health: QueueHealth) -> list[dict[str, Any]]:
    series: dict[str, Any] = (health.prometheus.value or {}).get("series", {})
    shown = []
    for kind, specs in (("line", LINES), ("bars", BARS)):
        for name, title in specs:
            found = series.get(name)
            chart = None
            error = health.prometheus.error
            if isinstance(found, list):
                draw = charts.line_chart if kind == "line" else charts.bar_chart
                chart, error = draw(found, health.at), None
            elif isinstance(found, str):
                error = found
            shown.append(
                {"name": name, "title": title, "kind": kind, "chart": chart, "error": error}
            )
    return shown


@bp.get("/health")
@signed_in("admin")
def health() -> str:
    """Queue health across every tenant, hence for admin keys only."""
    found = gather(console_state(), services())
    return render_template("console/health.html", health=found, charts=_charts(found))
