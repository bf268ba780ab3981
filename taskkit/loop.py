"""The loop of a long-running process: run a step until SIGTERM or SIGINT, wait between steps.

The relay, the bridge and the relay's queue-health refresh are all this shape: do some work,
then wait for a while or until told to stop. The loop owns the stop event, the signal handlers
(installed once, by the entry point), the handling of the errors a step may raise (logged,
passed to `on_error`, retried after a backoff), and a heartbeat: the time the last step ended,
which liveness checks read to tell a live loop from a stuck one.
"""

import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from taskkit import heartbeat

log = logging.getLogger(__name__)

# A step returns how long to wait before the next one; 0 runs the next one at once.
Step = Callable[[], float]


class ProcessLoop:
    """Runs steps until `stop` is set; see the module docstring."""

    def __init__(
        self,
        name: str,
        *,
        retry_on: tuple[type[BaseException], ...] = (),
        error_backoff_s: float = 1.0,
        on_error: Callable[[BaseException], None] | None = None,
        heartbeat_file: Path | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.name = name
        self.retry_on = retry_on
        self.error_backoff_s = error_backoff_s
        self.on_error = on_error
        self.heartbeat_file = heartbeat_file
        self.stop = stop or threading.Event()
        self.last_beat = time.monotonic()

    def install_signal_handlers(self) -> None:
        """Stop after the current step on SIGTERM or SIGINT (call from the main thread)."""

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("%s: signal %d received; stopping after the current step", self.name, signum)
            self.stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def beat(self) -> None:
        """Record that the loop is alive (and touch the heartbeat file, when there is one)."""
        self.last_beat = time.monotonic()
        if self.heartbeat_file is not None:
            try:
                heartbeat.touch(self.heartbeat_file)
            except OSError as err:
                log.warning("%s: cannot touch %s: %s", self.name, self.heartbeat_file, err)

    def run(self, step: Step) -> None:
        """Run `step` until stopped; an error of `retry_on` waits `error_backoff_s` and retries."""
        while not self.stop.is_set():
            try:
                wait_s = step()
            except self.retry_on as err:
                log.warning("%s: %s: %s; retrying", self.name, type(err).__name__, err)
                if self.on_error is not None:
                    self.on_error(err)
                wait_s = self.error_backoff_s
            self.beat()
            if wait_s > 0:
                self.stop.wait(wait_s)

    def start_thread(self, step: Step) -> threading.Thread:
        """Run the loop in a daemon thread (a helper loop beside the process's main one)."""
        thread = threading.Thread(target=self.run, args=(step,), name=self.name, daemon=True)
        thread.start()
        return thread
