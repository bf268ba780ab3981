"""The asynchronous client: the same methods as `Client`, awaited."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar, Unpack

import httpx

from taskservice_client import calls, errors, protocol
from taskservice_client.models import (
    SubmittedTask,
    Task,
    TaskPage,
    TaskRef,
    TaskSpec,
)
from taskservice_client.operator_models import (
    Attempt,
    Redrive,
)
from taskservice_client.retry import RetryPolicy

log = logging.getLogger("taskservice_client")

T = TypeVar("T")
Finishing = TypeVar("Finishing", Task, Redrive)


class AsyncClient:
    """The task service's API over HTTP for asyncio; `async with AsyncClient(...) as client`.

    Requests, retries and answers are those of `Client` (taskservice_client.calls and .retry).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 10.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        max_retry_after_s: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.retry = RetryPolicy(max_retries, backoff_s, max_backoff_s, max_retry_after_s)
        self._http = httpx.AsyncClient(
            transport=transport, **protocol.http_options(base_url, api_key, timeout_s)
        )
        self._sleep = sleep
        self._clock = clock

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def _send(self, call: protocol.Call[T]) -> T:
        retry = 0
        while True:
            try:
                response = await self._http.send(protocol.build_request(self._http, call))
            except httpx.TransportError as err:
                delay = self.retry.after_error(err, retry, replay_safe=call.replay_safe)
                if delay is None:
                    raise errors.ConnectionFailed(f"{call.method} {call.path}: {err!r}") from err
                reason = repr(err)
            else:
                delay = self.retry.after_response(response, retry)
                if delay is None:
                    return protocol.finish(call, response)
                reason = str(response.status_code)
            log.info("%s %s: %s; retry in %.2f s", call.method, call.path, reason, delay)
            await self._sleep(delay)
            retry += 1

    async def _poll(
        self, fetch: Callable[[], Awaitable[Finishing]], timeout_s: float, poll_interval_s: float
    ) -> Finishing:
        deadline = self._clock() + timeout_s
        while True:
            current = await fetch()
            if current.done:
                return current
            pause = protocol.poll_pause_s(deadline, self._clock(), poll_interval_s)
            if pause is None:
                raise protocol.wait_timeout(current, timeout_s)
            await self._sleep(pause)

    async def submit(
        self,
        type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        priority: int | None = None,
        max_attempts: int | None = None,
        run_at: datetime | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> SubmittedTask:
        """Submit one task; `replayed` is True when the Idempotency-Key had already created it."""
        spec = TaskSpec(type, payload or {}, priority, max_attempts, run_at, callback_url)
        return await self._send(
            calls.submit(spec, idempotency_key=idempotency_key, correlation_id=correlation_id)
        )

    async def submit_batch(
        self,
        tasks: Iterable[TaskSpec],
        *,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> list[TaskRef]:
        """Submit tasks atomically (all or none); their references come back in order."""
        call = calls.submit_batch(
            list(tasks), idempotency_key=idempotency_key, correlation_id=correlation_id
        )
        return await self._send(call)

    async def get(self, task_id: str) -> Task:
        """One task."""
        return await self._send(calls.get_task(task_id))

    async def wait(
        self, task_id: str, *, timeout_s: float = 60.0, poll_interval_s: float = 0.5
    ) -> Task:
        """Poll a task until it is COMPLETED, FAILED or CANCELLED; WaitTimeout after timeout_s."""
        return await self._poll(lambda: self.get(task_id), timeout_s, poll_interval_s)

    async def cancel(self, task_id: str) -> Task:
        """Cancel a task (see `calls.cancel_task` for what a resent request answers)."""
        return await self._send(calls.cancel_task(task_id))

    async def search_pages(self, **filters: Unpack[calls.SearchFilters]) -> AsyncIterator[TaskPage]:
        """The pages of a search, newest tasks first, following each page's cursor."""
        query = calls.search_query(**filters)
        cursor = None
        while True:
            page = await self._send(calls.search_page(query, cursor))
            yield page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def search(self, **filters: Unpack[calls.SearchFilters]) -> AsyncIterator[Task]:
        """Every matching task, newest first, fetched a page at a time as the caller reads."""
        async for page in self.search_pages(**filters):
            for task in page.items:
                yield task

    async def attempts(self, task_id: str) -> list[Attempt]:
        """The attempts at running a task, first to last."""
        return await self._send(calls.attempts(task_id))

    async def redrive(
        self,
        *,
        rate: float | None = None,
        limit: int | None = None,
        dry_run: bool = False,
        **where: Unpack[calls.RedriveCriteria],
    ) -> Redrive:
        """Start a re-drive job of the FAILED tasks matching `where` (`dry_run` only counts)."""
        call = calls.create_redrive(
            calls.redrive_filter(**where), rate=rate, limit=limit, dry_run=dry_run
        )
        return await self._send(call)

    async def get_redrive(self, redrive_id: str) -> Redrive:
        """One re-drive job."""
        return await self._send(calls.get_redrive(redrive_id))

    async def cancel_redrive(self, redrive_id: str) -> Redrive:
        """Stop a re-drive job; tasks it already re-drove stay re-driven."""
        return await self._send(calls.cancel_redrive(redrive_id))

    async def wait_redrive(
        self, redrive_id: str, *, timeout_s: float = 300.0, poll_interval_s: float = 1.0
    ) -> Redrive:
        """Poll a re-drive job until it is finished; WaitTimeout after timeout_s."""
        return await self._poll(lambda: self.get_redrive(redrive_id), timeout_s, poll_interval_s)
