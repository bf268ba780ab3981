"""Errors of the Celery side. `RetryableError` subclasses are retried; the others are not."""


class TaskServiceError(Exception):
    """Root of the errors this package raises."""


class RetryableError(TaskServiceError):
    """A transient failure: the attempt is retried with backoff while attempts remain."""


class HandlerTimeoutError(RetryableError):
    """Raised when a handler runs past its soft time limit."""


class PermanentError(TaskServiceError):
    """A failure no retry can fix: the task goes straight to FAILED and the DLT."""


class UnknownTaskTypeError(PermanentError):
    """Raised when a message names a task type no handler is registered for."""


class InvalidPayloadError(PermanentError):
    """Raised by a handler's validator when the payload cannot be processed."""
