"""The PromQL metric-name extractor the dashboard and rule checks rely on."""

from tests.ops.promql import exposed_names, metric_names


def test_metric_names_skip_functions_labels_ranges_and_grouping():
    expr = (
        "histogram_quantile(0.95, sum by (le, route) (rate(http_request_duration_seconds_bucket"
        '{route="/api/tasks", job=~"api|x"}[5m])))'
    )
    assert metric_names(expr) == {"http_request_duration_seconds_bucket"}


def test_metric_names_find_both_sides_of_binary_operations():
    expr = (
        'sum(rate(a_total{outcome="failed"}[10m])) / on (type) group_left() '
        "sum(rate(b_count[10m])) > 0.05 and up == 0 or (sum(c) or vector(0)) < 1e3"
    )
    assert metric_names(expr) == {"a_total", "b_count", "up", "c"}
    assert metric_names("time() - x_seconds > 120") == {"x_seconds"}


def test_exposed_names_reads_sample_names_not_comments():
    text = '# HELP a_total x\n# TYPE a_total counter\na_total{type="echo"} 1.0\nb 2\n'
    assert exposed_names(text) == {"a_total", "b"}
