"""Beat's scheduler: Celery's persistent one, plus a heartbeat file touched at every tick."""

from pathlib import Path
from typing import Any

from celery.beat import PersistentScheduler

from celery_tasks.names import HEARTBEAT_CONF
from taskkit import heartbeat


class HeartbeatScheduler(PersistentScheduler):  # type: ignore[misc]
    """Touches the configured heartbeat file after each tick, so a probe can tell that beat's
    loop turns (it ticks at least every `beat_max_loop_interval` seconds)."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        interval = float(super().tick(*args, **kwargs))
        path = self.app.conf.get(HEARTBEAT_CONF)
        if path:
            heartbeat.touch(Path(path))
        return interval
