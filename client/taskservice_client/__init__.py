"""A typed Python client of the task service's HTTP API.

from taskservice_client import Client

with Client("http://127.0.0.1:8080", api_key) as client:
    task = client.submit("process_data", {"action": "process_data"})
    print(client.wait(task.id, timeout_s=60).result)
"""

from taskservice_client.async_client import AsyncClient
from taskservice_client.calls import RedriveCriteria, SearchFilters
from taskservice_client.client import Client
from taskservice_client.errors import (
    ApiError,
    Conflict,
    ConnectionFailed,
    Forbidden,
    NotFound,
    RateLimited,
    TaskServiceError,
    Unauthorized,
    Unavailable,
    UnexpectedResponse,
    ValidationFailed,
    WaitTimeout,
)
from taskservice_client.models import (
    SubmittedTask,
    Task,
    TaskPage,
    TaskRef,
    TaskSpec,
    TaskStatus,
)
from taskservice_client.operator_models import (
    Attempt,
    Redrive,
    RedriveFilter,
    RedriveState,
)
from taskservice_client.retry import RetryPolicy
from taskservice_client.version import __version__

__all__ = [
    "ApiError",
    "AsyncClient",
    "Attempt",
    "Client",
    "Conflict",
    "ConnectionFailed",
    "Forbidden",
    "NotFound",
    "RateLimited",
    "Redrive",
    "RedriveCriteria",
    "RedriveFilter",
    "RedriveState",
    "RetryPolicy",
    "SearchFilters",
    "SubmittedTask",
    "Task",
    "TaskPage",
    "TaskRef",
    "TaskServiceError",
    "TaskSpec",
    "TaskStatus",
    "Unauthorized",
    "Unavailable",
    "UnexpectedResponse",
    "ValidationFailed",
    "WaitTimeout",
    "__version__",
]
