"""Handler registry: maps a task type to the function that runs it, with its time limits."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from celery_tasks.errors import UnknownTaskTypeError


@dataclass(frozen=True)
class HandlerContext:
    """What a handler may know about the attempt it runs in."""

    task_id: str
    attempt: int
    max_attempts: int
    correlation_id: str | None
    fault_injection: bool = False
    redrive_count: int = 0


HandlerFunc = Callable[[dict[str, Any], HandlerContext], dict[str, Any] | None]
Validator = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Handler:
    """A registered handler and its limits (None: the worker's defaults)."""

    name: str
    func: HandlerFunc
    validate: Validator | None = None
    soft_time_limit_s: int | None = None
    time_limit_s: int | None = None


class Registry:
    """Task types by name. The API validates against it; the worker runs from it."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def handler(
        self,
        name: str,
        *,
        validate: Validator | None = None,
        soft_time_limit_s: int | None = None,
        time_limit_s: int | None = None,
    ) -> Callable[[HandlerFunc], HandlerFunc]:
        """Register the decorated function as the handler of task type `name`."""

        def register(func: HandlerFunc) -> HandlerFunc:
            if name in self._handlers:
                raise ValueError(f"handler {name!r} is registered twice")
            self._handlers[name] = Handler(name, func, validate, soft_time_limit_s, time_limit_s)
            return func

        return register

    def get(self, name: str) -> Handler:
        """Return the handler of `name`, or raise UnknownTaskTypeError."""
        try:
            return self._handlers[name]
        except KeyError:
            raise UnknownTaskTypeError(f"no handler is registered for type {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._handlers

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._handlers))
