"""Metrics of the API and the relay (public API: dashboards and alerts use these names)."""

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("http_requests", "HTTP requests served.", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency.", ["method", "route"]
)
TASKS_SUBMITTED = Counter("tasks_submitted", "Tasks accepted by the API.", ["type"])
RATE_LIMIT_STORAGE_ERRORS = Counter(
    "rate_limit_storage_errors",
    "Rate-limit checks that could not reach Redis and let the request through (fail open).",
)

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
HTTP_RATE_LIMITED = Counter(
    "http_rate_limited_requests",
    "Requests the rate limiter refused with 429, by route.",
    ["method", "route"],
)

# Queue health, refreshed by the relay (webapp/queue_health.py): one process, so the database
# and Kafka are asked once per interval however many API workers or scrapes there are.
TASKS_BY_STATUS = Gauge("tasks_by_status", "Tasks in the task store, by status.", ["status"])
OLDEST_PENDING_AGE = Gauge(
    "tasks_oldest_pending_age_seconds", "Age of the oldest PENDING task (0 when there is none)."
)
DLT_DEPTH = Gauge("tasks_dlt_depth", "Records retained on the dead-letter topic.")
DEFAULT_PARTITION_ROWS = Gauge(
    "tasks_in_default_partition",
    "Tasks in the default partition: their month had no partition when they were written.",
)
QUEUE_HEALTH_ERRORS = Counter(
    "tasks_queue_health_errors", "Refreshes of the queue-health gauges that failed."
)
QUEUE_HEALTH_UPDATED = Gauge(
    "tasks_queue_health_updated_timestamp_seconds",
    "When the queue-health gauges were last refreshed (Unix time).",
)
