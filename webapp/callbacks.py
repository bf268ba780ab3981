"""Where a submission's callback URL points: refused when it names a private target
(taskkit/urlsafety.py), unless the operator allowed those (WEBAPP_WEBHOOKS_ALLOW_PRIVATE)."""

from collections.abc import Sequence

from db.tasks_repo import NewTask
from taskkit.urlsafety import target_problem
from webapp.errors import ValidationError


def check_callbacks(tasks: Sequence[NewTask], *, allow_private: bool) -> None:
    """Raise ValidationError (by index for several tasks) for a callback the service must not
    call; each distinct URL is resolved once."""
    seen: dict[str, str | None] = {}
    errors: list[dict[str, str | int]] = []
    for index, task in enumerate(tasks):
        if task.callback_url is None:
            continue
        if task.callback_url not in seen:
            seen[task.callback_url] = target_problem(task.callback_url, allow_private=allow_private)
        problem = seen[task.callback_url]
        if problem is not None:
            errors.append(
                {"index": index, "field": "callback_url", "detail": f"callback_url {problem}"}
            )
    if not errors:
        return
    if len(tasks) == 1:
        raise ValidationError(str(errors[0]["detail"]), field="callback_url")
    raise ValidationError(
        f"{len(errors)} of {len(tasks)} tasks have a callback the service must not call; none "
        "was stored",
        errors=errors,
    )
