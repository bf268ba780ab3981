"""The console's blueprint, the state it keeps on the app, and the checks before each page.

Every view module attaches its routes to `bp`; `webapp.console.init_app` registers it once the
modules are imported.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
from flask import Blueprint, current_app, request
from flask_wtf.csrf import CSRFProtect

from webapp.errors import ServiceUnavailableError
from webapp.settings import WebSettings

bp = Blueprint(
    "console", __name__, url_prefix="/ui", template_folder="templates", static_folder="static"
)

EXTENSION = "taskservice-console"
STATIC_ENDPOINT = "console.static"
# Sources of the queue-health page asked at once; more requests than this wait their turn.
HEALTH_THREADS = 6


@dataclass
class ConsoleState:
    """What the console keeps per app: its settings, CSRF guard and lazily made clients."""

    settings: WebSettings
    csrf: CSRFProtect | None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _executor: ThreadPoolExecutor | None = None
    _prometheus: httpx.Client | None = None

    @property
    def enabled(self) -> bool:
        """Whether the console may serve pages (it has a signing key)."""
        return self.csrf is not None

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The threads that ask the queue-health sources in parallel, made on first use."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(HEALTH_THREADS, "console-health")
            return self._executor

    @property
    def prometheus(self) -> httpx.Client:
        """The HTTP client of WEBAPP_UI_PROMETHEUS_URL, made on first use (after fork)."""
        with self._lock:
            if self._prometheus is None:
                self._prometheus = httpx.Client(
                    base_url=self.settings.ui_prometheus_url, timeout=0.5, trust_env=False
                )
            return self._prometheus

    def close(self) -> None:
        """Stop the threads and close the client."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._prometheus is not None:
            self._prometheus.close()


def console_state() -> ConsoleState:
    """The console state of the current app."""
    found: ConsoleState = current_app.extensions[EXTENSION]
    return found


@bp.before_request
def _guard() -> None:
    """Refuse every page while the console has no key, and check the CSRF token of every
    request that changes something, before any view or session lookup runs."""
    state = console_state()
    if not state.enabled:
        raise ServiceUnavailableError(
            "the web console is off: set WEBAPP_UI_SECRET_KEY (at least 32 characters, the "
            "same for every API process)"
        )
    if request.endpoint == STATIC_ENDPOINT:
        return
    if state.csrf is not None and request.method not in {"GET", "HEAD", "OPTIONS"}:
        state.csrf.protect()


@bp.app_template_filter("console_when")
def when(value: datetime | None) -> str:
    """A timestamp as the console prints it: UTC, to the second."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@bp.app_template_filter("console_number")
def number(value: float | None) -> str:
    """A figure with at most two decimals and thousands separators."""
    if value is None:
        return "—"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
