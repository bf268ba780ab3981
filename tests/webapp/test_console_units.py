"""Pure parts of the web console: charts, filters, the sign-in redirect; no services."""

import pytest

from webapp.auth import Principal
from webapp.console import charts
from webapp.console.filters import payload_filter, tenant_scope
from webapp.errors import BadRequestError, ForbiddenError

END = 1_000_000.0
USER = Principal(key_id="k", name="u", tenant="acme", scopes=frozenset({"read"}))
ADMIN = Principal(key_id="a", name="a", tenant="acme", scopes=frozenset({"read", "admin"}))


def test_a_line_chart_spans_the_hour_and_stays_inside_its_box() -> None:
    points = [(END - 3600 + 60 * i, float(i % 7)) for i in range(61)]
    chart = charts.line_chart(points, END)
    coords = [tuple(map(float, p.split(","))) for p in chart.line.split()]
    assert coords[0][0] == 0.0 and coords[-1][0] == charts.WIDTH
    assert all(0 <= x <= charts.WIDTH and 0 <= y <= charts.HEIGHT for x, y in coords)
    assert chart.peak == 6 and chart.latest == points[-1][1]


def test_bars_are_a_minute_wide_and_scaled_to_the_peak() -> None:
    points = [(END - 60 * i, 10.0 * (i % 2)) for i in range(5, 0, -1)]
    chart = charts.bar_chart(points, END)
    assert len(chart.bars) == 5
    tallest = max(b.height for b in chart.bars)
    assert tallest == charts.HEIGHT - 1
    assert all(b.width == pytest.approx(charts.WIDTH / 60 - 1, abs=0.1) for b in chart.bars)


def test_no_points_draw_nothing() -> None:
    assert charts.line_chart([], END).empty and charts.bar_chart([], END).empty
    flat = charts.line_chart([(END, 0.0)], END)
    assert not flat.empty and flat.peak == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("m=abc", '{"m": "abc"}'),
        ("n=3 ok=true", '{"n": 3, "ok": true}'),
        ('{"a": [1]}', '{"a": [1]}'),
        ("x=a=b", '{"x": "a=b"}'),
    ],
)
def test_payload_pairs_become_the_api_s_json_object(text: str, expected: str) -> None:
    assert payload_filter(text) == expected


def test_a_payload_word_without_equals_is_refused() -> None:
    with pytest.raises(BadRequestError, match="expected key=value"):
        payload_filter("m=1 oops")


def test_only_admins_choose_the_tenant() -> None:
    assert tenant_scope(USER, "") == "acme"
    with pytest.raises(ForbiddenError):
        tenant_scope(USER, "globex")
    assert tenant_scope(ADMIN, "") == "acme"
    assert tenant_scope(ADMIN, "globex") == "globex"
    assert tenant_scope(ADMIN, "*") is None
