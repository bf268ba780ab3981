"""Reading our task id out of kombu's Redis entries: a queue's list holds the message itself, the
`unacked` hash holds `[message, exchange, routing_key]`."""

import base64
import json
import uuid
from typing import Any

from celery_tasks.names import EXECUTE_TASK


def _task_id(message: Any) -> uuid.UUID | None:
    try:
        if message.get("headers", {}).get("task") != EXECUTE_TASK:
            return None
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return uuid.UUID(str(args[0]))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        # Not a message of ours (another app's, or a future protocol): leave it to kombu.
        return None


def queued_task_id(raw: bytes | str) -> uuid.UUID | None:
    """The task id of a queue entry when it is an execute message, else None."""
    try:
        message = json.loads(raw)
    except ValueError:
        return None
    return _task_id(message)


def execute_task_id(raw: bytes | str) -> uuid.UUID | None:
    """The task id of an `unacked` entry when it is an execute message, else None."""
    try:
        message, _exchange, _routing_key = json.loads(raw)
    except (ValueError, TypeError):
        return None
    return _task_id(message)
