"""Priority: a higher-priority task sent later is delivered before lower ones already waiting.

The messages are sent exactly as the bridge sends them (`send_execute`) to a real Redis broker,
and read back through kombu with the Celery app's own transport options, one at a time as a
worker with `worker_prefetch_multiplier = 1` takes them.
"""

import uuid

from kombu import Consumer

from celery_tasks.config import make_celery
from celery_tasks.names import TASKS_QUEUE
from celery_tasks.send import redis_priority, send_execute
from celery_tasks.settings import BrokerSettings
from tests.conftest import TEST_BROKER_URL


def _delivery_order(app, expected: int) -> list[str]:
    order: list[str] = []

    def on_message(body, message) -> None:
        order.append(body[0][0])
        message.ack()

    with app.connection_for_read() as conn:
        queue = app.amqp.queues[TASKS_QUEUE]
        with Consumer(conn, queues=[queue], callbacks=[on_message], prefetch_count=1):
            while len(order) < expected:
                conn.drain_events(timeout=10)
    return order


def test_redis_priority_maps_nine_to_first_served():
    assert [redis_priority(p) for p in (9, 5, 0)] == [0, 4, 9]
    assert redis_priority(42) == 0


def test_higher_priority_sent_later_is_delivered_first(test_broker):
    app = make_celery(BrokerSettings(broker_url=TEST_BROKER_URL))
    low = [f"low-{i}-{uuid.uuid4().hex[:6]}" for i in range(5)]
    for task_id in low:
        send_execute(app, task_id, "echo", priority=0)
    send_execute(app, "mid", "echo", priority=4)
    send_execute(app, "urgent", "echo", priority=9)
    order = _delivery_order(app, 7)
    assert order[:2] == ["urgent", "mid"]
    # Equal priorities keep their order.
    assert order[2:] == low
