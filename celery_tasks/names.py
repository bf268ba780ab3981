"""Celery task and queue names (public API: the bridge and beat send tasks by these names)."""

EXECUTE_TASK = "tasks.execute"
RECONCILE_TASK = "tasks.reconcile"
ENSURE_PARTITIONS_TASK = "tasks.ensure_partitions"
TASKS_QUEUE = "tasks"
MAINTENANCE_QUEUE = "maintenance"
