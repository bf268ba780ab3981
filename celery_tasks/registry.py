"""Handler registry: the body of each task type, beside the type's catalog entry."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from celery_tasks.catalog import Catalog, TaskType, Validator
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


@dataclass(frozen=True)
class Handler:
    """A task type and the function that runs it."""

    type: TaskType
    func: HandlerFunc

    @property
    def name(self) -> str:
        """The task type's name."""
        return self.type.name

    @property
    def validate(self) -> Validator | None:
        """The payload check of the task type."""
        return self.type.validate


class Registry:
    """Handlers by task type. With a catalog, only the catalog's types may get a body."""

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog
        self._handlers: dict[str, Handler] = {}

    def handler(
        self,
        name: str,
        *,
        validate: Validator | None = None,
        soft_time_limit_s: int | None = None,
        time_limit_s: int | None = None,
    ) -> Callable[[HandlerFunc], HandlerFunc]:
        """Register the decorated function as the body of task type `name`.

        Without a catalog the type is described here; with one it comes from the catalog.
        """
        if self.catalog is not None:
            if name not in self.catalog:
                raise ValueError(f"task type {name!r} is not in the catalog")
            task_type = self.catalog.get(name)
        else:
            task_type = TaskType(name, validate, soft_time_limit_s, time_limit_s)

        def register(func: HandlerFunc) -> HandlerFunc:
            if name in self._handlers:
                raise ValueError(f"handler {name!r} is registered twice")
            self._handlers[name] = Handler(task_type, func)
            return func

        return register

    def get(self, name: str) -> Handler:
        """Return the handler of `name`, or raise UnknownTaskTypeError."""
        try:
            return self._handlers[name]
        except KeyError:
            raise UnknownTaskTypeError(f"no handler is registered for type {name!r}") from None

    def missing(self) -> list[str]:
        """Types of the catalog that have no body (the worker refuses to start with any)."""
        return [name for name in self.catalog or [] if name not in self._handlers]

    def __contains__(self, name: object) -> bool:
        return name in self._handlers

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._handlers))
