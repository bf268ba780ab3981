"""Builds a configured Celery app: the worker, beat and Flower run it, the bridge sends with it."""

from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue

from celery_tasks.names import HEARTBEAT_CONF, MAINTENANCE_QUEUE, TASKS_QUEUE
from celery_tasks.redis_transport import transport_for
from celery_tasks.settings import BrokerSettings, WorkerSettings

# kombu's Redis transport emulates priorities with one list per step; ten steps give the API's
# priorities 0-9 each its own list.
PRIORITY_STEPS = list(range(10))
# The worker's consumer class: Celery's, with task events published in batches on a timer.
WORKER_CONSUMER = "celery_tasks.event_batching:BatchingConsumer"


def _queue(name: str) -> Queue:
    """A queue on the default exchange.

    kombu's Redis transport routes a message sent to a named exchange through a binding table
    kept in Redis itself; after the broker loses its data (FLUSHDB, a failover without it) that
    table is gone until a consumer declares the queue again, and a message published meanwhile
    is silently dropped ("No queues bound to exchange"). The default exchange routes by the
    routing key alone, so a publish always lands in the queue's list.
    """
    return Queue(name, Exchange(""), routing_key=name)  # type: ignore[no-untyped-call]


def celery_config(
    broker: BrokerSettings,
    worker: WorkerSettings | None = None,
    client_per_channel: bool = True,
) -> dict[str, Any]:
    """The Celery configuration of the service; the workers' limits only where `worker` is given.

    `client_per_channel` picks the service's Redis transport (celery_tasks/redis_transport.py)
    for a `redis://` broker; False keeps kombu's own. See docs/architecture.md, "Processes and
    data flow".
    """
    config: dict[str, Any] = {
        "broker_url": broker.broker_url,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": broker.visibility_timeout_s,
            "queue_order_strategy": "priority",
            "priority_steps": PRIORITY_STEPS,
            "sep": ":",
        },
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        # PostgreSQL holds each task's outcome; a result backend would be a second truth.
        "result_backend": None,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": TASKS_QUEUE,
        "task_queues": tuple(_queue(name) for name in (TASKS_QUEUE, MAINTENANCE_QUEUE)),
        "task_default_priority": 4,
        # No task-sent event: the bridge would publish one more message per task and Flower
        # process it, a fifth of the bridge's CPU, for a state ("sent") that lasts
        # milliseconds; Flower still shows each task received, started and finished.
        "task_send_sent_event": False,
        "worker_send_task_events": True,
        # Our own logging setup owns the root logger (issue: correlation ids in every line).
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "timezone": "UTC",
        "enable_utc": True,
    }
    transport = transport_for(broker.broker_url) if client_per_channel else None
    if transport is not None:
        config["broker_transport"] = transport
    if worker is not None:
        config["task_soft_time_limit"] = worker.soft_time_limit_s
        config["task_time_limit"] = worker.time_limit_s
        config["beat_scheduler"] = "celery_tasks.beat_scheduler:HeartbeatScheduler"
        # Beat wakes at least this often, so its heartbeat file never goes stale while the
        # schedule's next entry is far off.
        config["beat_max_loop_interval"] = 5
        # Task events published in batches on a short timer (celery_tasks/event_batching.py).
        config["worker_consumer"] = WORKER_CONSUMER
        if worker.heartbeat_file is not None:
            config[HEARTBEAT_CONF] = str(worker.heartbeat_file)
    return config


def make_celery(
    broker: BrokerSettings,
    worker: WorkerSettings | None = None,
    name: str = "celery_tasks",
    client_per_channel: bool = True,
) -> Celery:
    """Create a Celery app with the service's configuration; it connects only when used."""
    app = Celery(name, set_as_current=False)
    app.conf.update(celery_config(broker, worker, client_per_channel))
    return app
