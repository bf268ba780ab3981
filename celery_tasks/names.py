"""Celery task and queue names (public API: the bridge and beat send tasks by these names)."""

EXECUTE_TASK = "tasks.execute"
RECONCILE_TASK = "tasks.reconcile"
ENSURE_PARTITIONS_TASK = "tasks.ensure_partitions"
PRUNE_PARTITIONS_TASK = "tasks.prune_partitions"
DISPATCH_DUE_TASK = "tasks.dispatch_due"
PURGE_IDEMPOTENCY_TASK = "tasks.purge_idempotency_keys"
REDRIVE_TASK = "tasks.redrive"
TASKS_QUEUE = "tasks"
MAINTENANCE_QUEUE = "maintenance"
# The Celery message header that carries the task's correlation id. Not `correlation_id`:
# Celery sets a message property of that name to its own message id, which shadows a header
# of the same name in `task.request`.
CORRELATION_HEADER = "x_correlation_id"
# The Celery configuration key naming beat's heartbeat file (celery_tasks/beat_scheduler.py).
HEARTBEAT_CONF = "taskservice_heartbeat_file"
