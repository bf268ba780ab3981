"""URL converters of the API, and the route label its metrics use."""

import re

from flask import request
from werkzeug.routing import BaseConverter

_CONVERTER = re.compile(r"<(?:[^:>]+:)?([^>]+)>")


class TaskIdConverter(BaseConverter):
    """A path segment shaped like a UUID.

    Without it `/api/tasks/<task_id>` also matches `/api/tasks/batch`, so OPTIONS on the batch
    URL would advertise GET. The value stays a string; the view decides whether it names a task.
    """

    regex = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def route_label() -> str:
    """The matched rule without converter names (`/api/tasks/<task_id>`), or "unmatched".

    Metrics label requests by route, never by path, so their cardinality stays bounded.
    """
    if request.url_rule is None:
        return "unmatched"
    return _CONVERTER.sub(r"<\1>", request.url_rule.rule)
