"""The raw Celery baseline with the service worker's consumer: `celery -A raw_celery_batched_app`.

The same app, queue and tasks as raw_celery_app.py, but its worker publishes task events in
batches (celery_tasks/event_batching.py) as the service's worker does. The bench drains it once
for reference: the targets compare against raw Celery's own consumer, and this row shows how much
of the service's lead comes from Celery's event path rather than from the pipeline (README,
"Benchmark").
"""

from celery_tasks.config import WORKER_CONSUMER
from raw_celery_app import app, done, noop, stamp

app.conf.worker_consumer = WORKER_CONSUMER

# The worker finds the tasks through this module.
__all__ = ["app", "done", "noop", "stamp"]
