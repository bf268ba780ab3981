"""Metrics of the relay and of the queue health it refreshes (public API: dashboards and
alerts use these names)."""

from prometheus_client import Counter, Gauge, Histogram

RELAY_PUBLISHED = Counter("relay_published_messages", "Outbox rows published to Kafka.")
RELAY_DELIVERY_ERRORS = Counter(
    "relay_delivery_errors", "Outbox rows Kafka did not acknowledge (retried later)."
)
RELAY_PUBLISH_LATENCY = Histogram(
    "relay_publish_latency_seconds", "Time to produce a batch and receive its delivery reports."
)
RELAY_PARKED = Counter(
    "relay_parked_records",
    "Outbox rows set aside because Kafka can never take them (taskctl outbox parked).",
)
RELAY_PARKED_ROWS = Gauge("relay_outbox_parked", "Outbox rows parked and waiting for an operator.")
WEBHOOK_DELIVERIES = Counter(
    "relay_webhook_deliveries",
    "Tries of completion webhooks, by outcome (delivered, retried, failed).",
    ["outcome"],
)
RELAY_BACKLOG = Gauge("relay_outbox_backlog", "Outbox rows waiting to be published.")
RELAY_OLDEST_AGE = Gauge(
    "relay_outbox_oldest_age_seconds", "Age of the oldest outbox row waiting to be published."
)

# Queue health, refreshed by the relay (relay/queue_health.py): one process, so the database
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
