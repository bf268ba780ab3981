"""Kafka topic names (public API). They live in `db` because `db` writes the outbox rows and
every other package may import `db`."""

TASKS_TOPIC = "tasks"
DLT_TOPIC = "tasks-dlt"
TASKS_PARTITIONS = 32
DLT_PARTITIONS = 4
OUTBOX_CHANNEL = "outbox"
