"""The raw Celery baseline with the service worker's Celery changes: `celery -A
raw_celery_batched_app`.

The same app, queue and tasks as raw_celery_app.py, but its worker publishes task events in
batches (celery_tasks/event_batching.py) and keeps one Redis client per channel
(celery_tasks/redis_transport.py), as the service's worker does. The bench drains it once for
reference (its sender, the bench itself, keeps kombu's transport): the targets compare against
Celery as it ships, and this row shows how much of the service's lead comes from those two
changes to Celery's own costs rather than from the pipeline (README, "Benchmark").
"""

from celery_tasks.config import WORKER_CONSUMER
from celery_tasks.redis_transport import TRANSPORT as REDIS_TRANSPORT
from raw_celery_app import app, done, noop, stamp

app.conf.worker_consumer = WORKER_CONSUMER
app.conf.broker_transport = REDIS_TRANSPORT

# The worker finds the tasks through this module.
__all__ = ["app", "done", "noop", "stamp"]
