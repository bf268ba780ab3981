"""The correlation id travels in its own Celery message header (Celery's `correlation_id`
property is its message id), against the real Redis broker of the integration tests. The
message reaches the queue on a flushed broker although the sender declares nothing."""

from celery_tasks.config import make_celery
from celery_tasks.names import CORRELATION_HEADER, TASKS_QUEUE
from celery_tasks.send import send_execute
from celery_tasks.settings import BrokerSettings
from db.ids import uuid7
from tests.conftest import TEST_BROKER_URL


def test_execute_message_carries_the_correlation_id_header(test_broker):
    app = make_celery(BrokerSettings(broker_url=TEST_BROKER_URL))
    task_id = str(uuid7())
    message_id = send_execute(app, task_id, "echo", correlation_id="corr-header-1")
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue(TASKS_QUEUE)
        message = queue.get(timeout=10)
        message.ack()
        queue.close()
    assert message.headers[CORRELATION_HEADER] == "corr-header-1"
    # Written by send_execute itself (no saferepr), the same text Flower showed before.
    assert message.headers["argsrepr"] == repr([task_id])
    assert message.headers["kwargsrepr"] == "{}"
    args, kwargs, _ = message.decode()
    assert (args, kwargs) == ([task_id], {})
    # Why the header has its own name: Celery's property of that name is the message id.
    assert message.properties["correlation_id"] == message_id
