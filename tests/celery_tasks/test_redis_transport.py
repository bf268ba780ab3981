"""The service's kombu transport on a real Redis broker: one client object per channel for the
synchronous commands, the same messages, the same acknowledgements (the unacked index emptied)
as kombu's own transport, and a fresh client once kombu drops the channel's pool."""

import uuid

from kombu import Consumer

from celery_tasks.config import celery_config, make_celery
from celery_tasks.names import TASKS_QUEUE
from celery_tasks.redis_transport import TRANSPORT, Channel, Transport, transport_for
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
