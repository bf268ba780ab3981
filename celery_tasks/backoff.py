"""Delay before the next attempt: exponential backoff with "equal" jitter."""

import random


def retry_delay_s(attempt: int, factor_s: float, maximum_s: float, *, jitter: bool = True) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based).

    Celery's `retry_jitter` is full jitter (uniform in [0, backoff]), under which a later gap can
    be shorter than an earlier one; equal jitter (uniform in [backoff/2, backoff]) still spreads a
    thundering herd but keeps the gaps growing. The attempt number comes from PostgreSQL, not from
    the Celery message, whose retry count restarts whenever the reconciler or a re-drive sends a
    fresh message.
    """
    backoff = float(min(maximum_s, factor_s * 2 ** max(attempt - 1, 0)))
    if not jitter:
        return backoff
    return backoff / 2 + random.uniform(0, backoff / 2)
