"""The bodies of the catalog's task types, loaded only by the worker (celery_tasks/app.py).

Each is a plain function of (payload, context), registered under its type's name; the type's
validator and limits come from celery_tasks/catalog.py.
"""

import hashlib
import json
import os
import signal
import time
from typing import Any

from celery_tasks.catalog import CATALOG
from celery_tasks.errors import PermanentError, RetryableError
from celery_tasks.registry import HandlerContext, Registry

registry = Registry(CATALOG)


@registry.handler("process_data")
def process_data(payload: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    """The original design's example action: summarise the payload deterministically.

    The result names the payload's digest (canonical JSON, SHA-256), its fields, and, when the
    payload has a list of numbers under `data`, their count, sum, minimum, maximum and mean.
    """
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    result: dict[str, Any] = {
        "action": payload.get("action", "process_data"),
        "digest": hashlib.sha256(canonical.encode()).hexdigest(),
        "fields": sorted(payload),
        "size_bytes": len(canonical.encode()),
    }
    data = payload.get("data")
    if isinstance(data, list):
        numbers = [x for x in data if isinstance(x, int | float) and not isinstance(x, bool)]
        if numbers:
            result["stats"] = {
                "count": len(numbers),
                "sum": sum(numbers),
                "min": min(numbers),
                "max": max(numbers),
                "mean": sum(numbers) / len(numbers),
            }
    return result


@registry.handler("echo")
def echo(payload: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    """Return the payload unchanged."""
    return {"echo": payload}


@registry.handler("sleep")
def sleep(payload: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    """Sleep for `seconds` (default 1): a stand-in for slow I/O."""
    seconds = float(payload.get("seconds", 1))
    time.sleep(seconds)
    return {"slept_s": seconds}


@registry.handler("fail")
def fail(payload: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    """Fail on purpose: `{"times": n}` fails the first n attempts, `{"permanent": true}` always.

    `{"permanent_after_redrive": true}` fails permanently once re-driven (a different error than
    the first run's, for the DLT filter drills). `{"healed_after_redrives": k}` makes it
    succeed once the task was re-driven k times, so an
    operator can rehearse a dead-letter re-drive end to end.
    """
    healed_after = int(payload.get("healed_after_redrives", 0))
    if healed_after and ctx.redrive_count >= healed_after:
        return {"healed_after_redrives": ctx.redrive_count, "attempt": ctx.attempt}
    if payload.get("permanent") or (payload.get("permanent_after_redrive") and ctx.redrive_count):
        raise PermanentError("permanent failure requested by the payload")
    times = int(payload.get("times", 0))
    if ctx.attempt <= times:
        raise RetryableError(f"transient failure {ctx.attempt} of {times} requested by the payload")
    return {"failed_attempts": times, "succeeded_on_attempt": ctx.attempt}


@registry.handler("crash")
def crash(payload: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    """Kill the worker process running it (SIGKILL), as the OOM killer would: a fault drill.

    `{"times": n}` crashes the first n attempts (default: every attempt). Runs only where the
    worker enables fault injection; elsewhere it is a permanent error.
    """
    if not ctx.fault_injection:
        raise PermanentError("fault injection is disabled on this worker")
    if ctx.attempt <= int(payload.get("times", 1_000_000)):
        os.kill(os.getpid(), signal.SIGKILL)
    return {"crashed_attempts": ctx.attempt - 1, "survived_on_attempt": ctx.attempt}
