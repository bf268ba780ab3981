"""The service's kombu transport on a real Redis broker: one client object per channel for the
synchronous commands, the same messages, the same acknowledgements (the unacked index emptied)
as kombu's own transport, and a fresh client once kombu drops the channel's pool."""

import threading
import time
import uuid

from kombu import Consumer
from kombu.asynchronous import Hub

from celery_tasks.config import celery_config, make_celery
from celery_tasks.names import TASKS_QUEUE
from celery_tasks.redis_transport import (
    ACK_FLUSH_S,
    TRANSPORT,
    Channel,
    Transport,
    transport_for,
)
from celery_tasks.send import send_execute
from celery_tasks.settings import BrokerSettings
from tests.conftest import TEST_BROKER_URL

BROKER = BrokerSettings(broker_url=TEST_BROKER_URL)


def test_the_service_config_names_the_transport_and_false_leaves_kombus():
    assert celery_config(BROKER)["broker_transport"] == TRANSPORT
    assert "broker_transport" not in celery_config(BROKER, client_per_channel=False)


def test_schemes_kombu_gives_a_meaning_of_their_own_keep_kombus_transport():
    # `rediss://` turns TLS on and `sentinel://` has its own channel only under their names.
    for url in ("rediss://redis.internal:6380/1", "sentinel://s1:26379;sentinel://s2:26379"):
        assert "broker_transport" not in celery_config(BrokerSettings(broker_url=url))
    assert transport_for("redis://127.0.0.1:6379/1") == TRANSPORT


def test_a_channel_reuses_one_client_until_kombu_drops_its_pool(test_broker):
    app = make_celery(BROKER)
    with app.connection_for_write() as conn:
        assert isinstance(conn.transport, Transport)
        channel = conn.default_channel
        assert isinstance(channel, Channel)
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
            assert first.connection_pool is channel.pool
        given = object()
        with channel.conn_or_acquire(given) as passed:
            assert passed is given
        # What kombu does after a fork or a failed connection.
        channel._disconnect_pools()
        with channel.conn_or_acquire() as third:
            assert third is not first
            assert third.connection_pool is channel.pool
            assert third.ping()


def test_messages_and_late_acks_go_through_as_with_kombus_transport(test_broker):
    app = make_celery(BROKER)
    sent = [str(uuid.uuid4()) for _ in range(20)]
    for task_id in sent:
        send_execute(app, task_id, "echo")
    received: list[str] = []
    unacked_seen: list[int] = []

    def on_message(body, message) -> None:
        received.append(body[0][0])
        # Delivered with acks_late: the message waits in the unacked index until its ack.
        unacked_seen.append(test_broker.hlen("unacked"))
        message.ack()

    with app.connection_for_read() as conn:
        assert isinstance(conn.default_channel, Channel)
        queue = app.amqp.queues[TASKS_QUEUE]
        with Consumer(conn, queues=[queue], callbacks=[on_message], prefetch_count=1):
            while len(received) < len(sent):
                conn.drain_events(timeout=10)
    assert received == sent
    assert unacked_seen == [1] * len(sent)
    assert test_broker.hlen("unacked") == 0
    assert test_broker.zcard("unacked_index") == 0


class Received:
    """A consumer callback keeping each message and the task id of its body."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.messages: list = []

    def __call__(self, body, message) -> None:
        self.bodies.append(body[0][0])
        self.messages.append(message)

    def drain(self, conn, count: int) -> list:
        while len(self.messages) < count:
            conn.drain_events(timeout=10)
        return self.messages


def test_an_ack_leaves_redis_with_the_next_delivery_or_after_its_flush_delay(test_broker):
    app = make_celery(BROKER)
    sent = [str(uuid.uuid4()) for _ in range(3)]
    for task_id in sent:
        send_execute(app, task_id, "echo")
    received = Received()
    hub = Hub()  # type: ignore[no-untyped-call]
    try:
        with app.connection_for_read() as conn:
            # What Celery's consumer does with the worker's event loop.
            conn.transport.register_with_event_loop(conn.connection, hub)
            assert conn.transport.ack_hub is hub
            queue = app.amqp.queues[TASKS_QUEUE]
            with Consumer(conn, queues=[queue], callbacks=[received]):
                messages = received.drain(conn, 1)
                messages[0].ack()
                # Acknowledged for kombu at once, still in Redis until the next pipeline.
                assert conn.default_channel.qos.can_consume()
                assert test_broker.hlen("unacked") == 1
                received.drain(conn, 2)
                # The second delivery's pipeline removed the first and recorded the second.
                assert test_broker.hkeys("unacked") == [messages[1].delivery_tag.encode()]
                messages[1].ack()
                assert test_broker.zcard("unacked_index") == 1
                time.sleep(ACK_FLUSH_S * 2)
                hub.fire_timers(propagate=(Exception,))
                assert test_broker.hlen("unacked") == 0
                assert test_broker.zcard("unacked_index") == 0
                # An ack still waiting when the channel closes leaves Redis then.
                received.drain(conn, 3)
                messages[2].ack()
                assert test_broker.hlen("unacked") == 1
    finally:
        hub.close()  # type: ignore[no-untyped-call]
    assert test_broker.hlen("unacked") == 0
    assert test_broker.zcard("unacked_index") == 0
    assert received.bodies == sent


def test_acks_a_dead_worker_left_waiting_are_restored_by_kombu_after_the_timeout(test_broker):
    # The waiting acks never leave Redis: kombu restores those messages after the visibility
    # timeout, as after a failed ack (the task's lock and fence then drop the repeat).
    app = make_celery(BROKER)
    task_id = str(uuid.uuid4())
    send_execute(app, task_id, "echo")
    received = Received()
    queue = app.amqp.queues[TASKS_QUEUE]
    hub = Hub()  # type: ignore[no-untyped-call]
    conn = app.connection_for_read()
    conn.transport.register_with_event_loop(conn.connection, hub)
    with Consumer(conn, queues=[queue], callbacks=[received]):
        messages = received.drain(conn, 1)
        messages[0].ack()
        qos = conn.default_channel.qos
        # As if the process died here: neither the flush nor the close runs.
        qos._pending_acks.clear()
        qos.restore_at_shutdown = False
    hub.close()  # type: ignore[no-untyped-call]
    conn.release()
    assert test_broker.hlen("unacked") == 1
    with app.connection_for_read() as other:
        qos = other.default_channel.qos
        qos.visibility_timeout = 0
        qos.restore_visible(num=10, interval=1)
        assert test_broker.hlen("unacked") == 0
        with Consumer(other, queues=[queue], callbacks=[received]):
            received.drain(other, 2)[1].ack()
    assert received.bodies == [task_id, task_id]


def test_an_ack_from_another_thread_than_the_loops_leaves_redis_at_once(test_broker):
    # The event loop's timers are not safe to touch from another thread (a threads pool).
    app = make_celery(BROKER)
    send_execute(app, str(uuid.uuid4()), "echo")
    received = Received()
    hub = Hub()  # type: ignore[no-untyped-call]
    try:
        with app.connection_for_read() as conn:
            conn.transport.register_with_event_loop(conn.connection, hub)
            queue = app.amqp.queues[TASKS_QUEUE]
            with Consumer(conn, queues=[queue], callbacks=[received]):
                message = received.drain(conn, 1)[0]
                acker = threading.Thread(target=message.ack)
                acker.start()
                acker.join()
                assert test_broker.hlen("unacked") == 0
                assert conn.default_channel.qos._pending_acks == []
    finally:
        hub.close()  # type: ignore[no-untyped-call]
