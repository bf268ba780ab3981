"""Worker metrics (public API: dashboards and alerts use these names)."""

from prometheus_client import Counter, Histogram

TASK_PROCESSING_TIME = Histogram(
    "task_processing_time",
    "Time spent running a task's handler, in seconds.",
    ["type", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
TASK_RETRY_COUNT = Counter("task_retry_count", "Attempts that failed and were retried.", ["type"])
TASK_FAILURES = Counter("task_failures", "Tasks that ended FAILED.", ["type", "error_type"])
TASK_DUPLICATES = Counter(
    "task_duplicate_deliveries",
    "Deliveries that did not run the handler: the task was done, running or locked.",
    ["reason"],
)
TASK_STALE_ATTEMPTS = Counter(
    "task_stale_attempts", "Attempts whose final write was fenced out by a newer attempt."
)
DLT_PUBLISHES = Counter("task_dlt_records", "Dead-letter records queued in the outbox.", ["type"])
ORPHANS_RESTORED = Counter(
    "reconcile_orphans_restored",
    "Execute messages a gone worker had received and never claimed, put back on their queue.",
)
VANISHED_REDISPATCHED = Counter(
    "reconcile_vanished_redispatched",
    "Waiting tasks found neither in Kafka, their queue nor a worker, published again.",
)
MAINTENANCE_RUNS = Counter(
    "maintenance_runs", "Runs of beat's jobs on the maintenance lane, by task.", ["task"]
)
