"""Small charts drawn as inline SVG by the server: a line over the last hour, or a bar a
minute. Only numbers go into the SVG, so nothing a task holds can reach it."""

from collections.abc import Sequence
from dataclasses import dataclass, field

WIDTH = 300
HEIGHT = 60
WINDOW_S = 3600


@dataclass(frozen=True)
class Bar:
    """One bar's rectangle."""

    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Chart:
    """What the template draws: a polyline's points or bars, and the figures beside it."""

    width: int = WIDTH
    height: int = HEIGHT
    line: str = ""
    bars: list[Bar] = field(default_factory=list)
    peak: float = 0.0
    latest: float | None = None
    empty: bool = True


def _scale(points: Sequence[tuple[float, float]], end: float) -> tuple[float, float, float]:
    start = end - WINDOW_S
    peak = max((v for _, v in points), default=0.0)
    return start, peak, peak if peak > 0 else 1.0


def line_chart(points: Sequence[tuple[float, float]], end: float) -> Chart:
    """A line of (unix time, value) points on the hour that ends at `end`."""
    if not points:
        return Chart()
    start, peak, top = _scale(points, end)
    coords = []
    for t, v in points:
        x = max(0.0, min(WIDTH, (t - start) / WINDOW_S * WIDTH))
        y = HEIGHT - max(0.0, v) / top * (HEIGHT - 2) - 1
        coords.append(f"{x:.1f},{y:.1f}")
    return Chart(line=" ".join(coords), peak=peak, latest=points[-1][1], empty=False)


def bar_chart(points: Sequence[tuple[float, float]], end: float, step_s: float = 60) -> Chart:
    """A bar per point (one per `step_s`) on the hour that ends at `end`."""
    if not points:
        return Chart()
    start, peak, top = _scale(points, end)
    width = WIDTH * step_s / WINDOW_S
    bars = []
    for t, v in points:
        x = (t - step_s - start) / WINDOW_S * WIDTH
        if x < 0 or x >= WIDTH:
            continue
        h = max(0.0, v) / top * (HEIGHT - 1)
        bars.append(
            Bar(round(x, 1), round(HEIGHT - h, 1), round(max(width - 1, 1), 1), round(h, 1))
        )
    return Chart(bars=bars, peak=peak, latest=points[-1][1], empty=False)
