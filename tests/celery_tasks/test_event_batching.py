"""The worker's consumer publishes buffered task events on a timer, once per batch.

Pure logic on kombu's real event-loop hub and timer; the end-to-end check against the running
worker and Redis is tests/e2e/test_worker_events.py.
"""

import time
from typing import Any

from kombu.asynchronous import Hub

from celery_tasks.event_batching import EVENT_FLUSH_S, BatchingConsumer


class RecordingDispatcher:
    """Stands in for Celery's EventDispatcher: counts what the consumer asks it to publish."""

    def __init__(self) -> None:
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1


def consumer_on(hub: Hub | None) -> tuple[BatchingConsumer, RecordingDispatcher]:
    # Only the two attributes the hook reads: building a whole Consumer needs a broker.
    consumer: Any = BatchingConsumer.__new__(BatchingConsumer)
    dispatcher = RecordingDispatcher()
    consumer.hub = hub
    consumer.event_dispatcher = dispatcher
    return consumer, dispatcher


def due_entries(hub: Hub) -> list[Any]:
    return [entry for entry in hub.timer.queue if not entry.entry.canceled]


def test_many_buffered_events_schedule_one_flush_after_the_delay():
    hub = Hub()
    consumer, dispatcher = consumer_on(hub)
    for _ in range(50):
        consumer.on_send_event_buffered()
    assert len(due_entries(hub)) == 1
    hub.fire_timers(propagate=(Exception,))
    assert dispatcher.flushes == 0, "flushed before the delay"

    time.sleep(EVENT_FLUSH_S + 0.05)
    hub.fire_timers(propagate=(Exception,))
    assert dispatcher.flushes == 1
    assert due_entries(hub) == []
    # The next event starts the next batch.
    consumer.on_send_event_buffered()
    assert len(due_entries(hub)) == 1
    hub.close()


def test_the_flush_is_due_the_delay_after_the_first_event():
    hub = Hub()
    consumer, _ = consumer_on(hub)
    now = time.monotonic()
    consumer.on_send_event_buffered()
    (entry,) = due_entries(hub)
    # kombu's timer keeps etas on time.monotonic().
    assert now + EVENT_FLUSH_S - 0.05 <= entry.eta <= now + EVENT_FLUSH_S + 0.5
    hub.close()


def test_a_cancelled_flush_does_not_hold_back_the_next_events():
    # A reconnect cancels the timer entries the event loop registered.
    hub = Hub()
    consumer, _ = consumer_on(hub)
    consumer.on_send_event_buffered()
    (first,) = due_entries(hub)
    first.entry.cancel()
    consumer.on_send_event_buffered()
    assert len(due_entries(hub)) == 1
    assert due_entries(hub)[0].entry is not first.entry
    hub.close()


def test_stopping_publishes_the_buffer_and_cancels_the_pending_flush():
    hub = Hub()
    consumer, dispatcher = consumer_on(hub)
    consumer.on_send_event_buffered()
    (pending,) = due_entries(hub)
    consumer._flush_now()
    assert dispatcher.flushes == 1
    assert pending.entry.canceled
    assert due_entries(hub) == []
    hub.close()


def test_closing_the_event_loop_publishes_the_buffer():
    # A warm shutdown stops the loop before the last tasks end; Celery then runs the flushes
    # it queued when the hub closes, and a pending timer would never fire.
    hub = Hub()
    consumer, dispatcher = consumer_on(hub)
    consumer.on_send_event_buffered()
    consumer.on_send_event_buffered()
    hub.close()
    assert dispatcher.flushes == 1
    assert consumer._flush_entry is None


def test_a_failed_publish_does_not_stop_the_event_loop_from_closing():
    hub = Hub()
    consumer, dispatcher = consumer_on(hub)

    def broken() -> None:
        raise ConnectionError("broker gone")

    dispatcher.flush = broken  # type: ignore[method-assign]
    consumer.on_send_event_buffered()
    hub.close()  # does not raise
    assert consumer._flush_entry is None
    consumer._flush_now()  # nor does the flush a stopping consumer makes


def test_without_an_event_loop_nothing_is_scheduled():
    # Celery only buffers when the consumer has a hub; without one the hook is a no-op.
    consumer, dispatcher = consumer_on(None)
    consumer.on_send_event_buffered()
    assert dispatcher.flushes == 0
    assert consumer._flush_entry is None
