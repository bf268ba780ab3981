"""Metrics of the API and the relay (public API: dashboards and alerts use these names)."""

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("http_requests", "HTTP requests served.", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency.", ["method", "route"]
)
TASKS_SUBMITTED = Counter("tasks_submitted", "Tasks accepted by the API.", ["type"])

RELAY_PUBLISHED = Counter("relay_published_messages", "Outbox rows published to Kafka.")
RELAY_DELIVERY_ERRORS = Counter(
    "relay_delivery_errors", "Outbox rows Kafka did not acknowledge (retried later)."
)
RELAY_PUBLISH_LATENCY = Histogram(
    "relay_publish_latency_seconds", "Time to produce a batch and receive its delivery reports."
)
RELAY_BACKLOG = Gauge("relay_outbox_backlog", "Outbox rows waiting to be published.")
RELAY_OLDEST_AGE = Gauge(
    "relay_outbox_oldest_age_seconds", "Age of the oldest outbox row waiting to be published."
)
