"""When to send a request again and how long to wait first: pure decisions, no I/O.

Both clients ask this module after every answer or transport error; only how they sleep and
send differs. Retried: 429 (after its Retry-After), 503 and transport errors (exponential
backoff with jitter), at most `max_retries` times. Every other status is final.
"""

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

TOO_MANY_REQUESTS = 429
SERVICE_UNAVAILABLE = 503
# A broken or timed-out exchange: the request may or may not have been processed.
TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
# The request never left this process, so even a call that must not run twice can be resent.
UNSENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Past this many doublings the cap applies anyway; it keeps 2**n a small number.
MAX_DOUBLINGS = 30


def retry_after_s(headers: httpx.Headers, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delay-seconds or an HTTP-date), None if absent."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a client retries."""

    max_retries: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    # A 429 asking for a longer wait is raised at once: the caller may have better things to do.
    max_retry_after_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.backoff_s < 0 or self.max_backoff_s < 0:
            raise ValueError("max_retries, backoff_s and max_backoff_s must not be negative")
        if self.max_retry_after_s < 0:
            raise ValueError("max_retry_after_s must not be negative")

    def backoff(self, retry: int) -> float:
        """The wait before retry number `retry` + 1: doubling, capped, with equal jitter."""
        ceiling = min(self.max_backoff_s, self.backoff_s * 2 ** min(retry, MAX_DOUBLINGS))
        # Equal jitter (uniform in the upper half) spreads clients that failed together while
        # keeping the gaps growing, as the workers' own task retries do.
        return self.rng.uniform(ceiling / 2, ceiling)

    def after_error(
        self, error: httpx.TransportError, retry: int, *, replay_safe: bool
    ) -> float | None:
        """Seconds to wait before resending after a transport error, None to give up."""
        if retry >= self.max_retries:
            return None
        if isinstance(error, UNSENT_ERRORS) or (
            replay_safe and isinstance(error, TRANSIENT_ERRORS)
        ):
            return self.backoff(retry)
        return None

    def after_response(self, response: httpx.Response, retry: int) -> float | None:
        """Seconds to wait before resending after this answer, None when it is final."""
        status = response.status_code
        if status not in {TOO_MANY_REQUESTS, SERVICE_UNAVAILABLE} or retry >= self.max_retries:
            return None
        asked = retry_after_s(response.headers)
        if status == TOO_MANY_REQUESTS:
            if asked is None:
                return self.backoff(retry)
            # Coming back sooner than asked would only be refused again.
            return asked if asked <= self.max_retry_after_s else None
        return max(self.backoff(retry), min(asked or 0.0, self.max_retry_after_s))
