"""URL converters of the API."""

from werkzeug.routing import BaseConverter


class TaskIdConverter(BaseConverter):
    """A path segment shaped like a UUID.

    Without it `/api/tasks/<task_id>` also matches `/api/tasks/batch`, so OPTIONS on the batch
    URL would advertise GET. The value stays a string; the view decides whether it names a task.
    """

    regex = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
