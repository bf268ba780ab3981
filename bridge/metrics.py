"""Bridge metrics (public API: dashboards and alerts use these names)."""

from prometheus_client import Counter, Gauge, Histogram

RECORDS_CONSUMED = Counter(
    "bridge_records_consumed", "Kafka records read from the tasks topic.", ["outcome"]
)
DISPATCH_LATENCY = Histogram(
    "bridge_dispatch_latency_seconds",
    "Time from the record's Kafka timestamp until Celery accepted the message.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
CONSUMER_LAG = Gauge(
    "bridge_consumer_lag", "Records behind the high watermark, per partition.", ["partition"]
)
