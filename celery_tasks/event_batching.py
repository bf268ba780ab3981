"""The worker's consumer, sending its task events in batches on a short timer.

Celery's worker buffers task events (task-received, -started, -succeeded ...) and asks its
event loop to publish the buffer on the loop's next turn. Under load a turn sees one or two
events, so each task cost about one and a half Redis PUBLISHes, and each PUBLISH a message
that Flower reads, decodes and hands between its threads. Profiled during a drain (py-spy on
the worker's parent process), publishing events was about a third of the parent's CPU.

This consumer publishes the buffer at most `EVENT_FLUSH_S` after its first event instead, so a
PUBLISH carries up to Celery's `buffer_limit` (24) events; a full buffer is still published at
once by Celery itself. Flower shows a task's change of state at most that much later. The
buffer is published before the consumer stops, and again when the event loop closes: Celery
runs the flushes it had queued at that point, so the results of tasks that end during a warm
shutdown still reach Flower, and a timer that would never fire must not keep them back.

Selected with the `worker_consumer` setting (celery_tasks/config.py), Celery's own extension
point for the consumer class.
"""

import logging
from typing import Any

from celery.worker.consumer import Consumer

log = logging.getLogger(__name__)

# Long enough to gather a few dozen events at a few hundred tasks per second, short enough that
# Flower's live view still looks live.
EVENT_FLUSH_S = 0.1


class BatchingConsumer(Consumer):  # type: ignore[misc]
    """Celery's consumer with its task events published on a timer rather than every turn."""

    _flush_entry: Any = None
    _watched_hub: Any = None

    def on_send_event_buffered(self) -> None:
        """Celery's hook for a buffered event: schedule one flush unless one is pending."""
        hub = self.hub
        if hub is None:
            return
        if self._watched_hub is not hub:
            hub.on_close.add(self._flush_on_close)
            self._watched_hub = hub
        entry = self._flush_entry
        # A reconnect cancels the timer entries the loop registered; a cancelled entry never
        # runs, so it must not keep the next events waiting for it.
        if entry is not None and not entry.canceled:
            return
        self._flush_entry = hub.call_later(EVENT_FLUSH_S, self._flush_buffered)

    def _flush_buffered(self) -> None:
        self._flush_entry = None
        self._flush_events()

    def _flush_on_close(self, _hub: Any) -> None:
        self._flush_now()

    def stop(self) -> None:
        """Publish what is buffered, then stop as Celery does."""
        self._flush_now()
        super().stop()

    def shutdown(self) -> None:
        """Publish what is buffered, then shut down as Celery does."""
        self._flush_now()
        super().shutdown()

    def _flush_now(self) -> None:
        entry, self._flush_entry = self._flush_entry, None
        if entry is not None:
            entry.cancel()
        # Called as the consumer stops and as the loop closes, which it also does to clean up
        # after a lost connection: a failed publish must not stop either.
        try:
            self._flush_events()
        except Exception:
            log.warning("buffered task events not published", exc_info=True)
