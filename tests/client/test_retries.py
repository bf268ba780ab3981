"""Retries of the client, without services: an httpx MockTransport plays an API that loses
answers, refuses with 429 and 503 and drops connections; a fake clock records every sleep."""

import asyncio
import email.utils
import json
import time
import uuid

import httpx
import pytest

from taskservice_client import (
    ApiError,
    AsyncClient,
    Client,
    Conflict,
    ConnectionFailed,
    Forbidden,
    NotFound,
    RateLimited,
    TaskSpec,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)

BASE = "http://api.test"


class FakeClock:
    """Time that passes only when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


class FakeApi:
    """Submissions with Idempotency-Key semantics, behind a script of failures.

    Each entry of `script` handles one request: a response to refuse with, an exception to
    raise before the request is processed, or "lost" to process it and then drop the
    connection, as a server that crashed right after its commit would. Past the script every
    request is served: a new key creates tasks (202), a known key replays them (200).
    """

    def __init__(self, *script: object) -> None:
        self.script = list(script)
        self.requests: list[httpx.Request] = []
        self.created: dict[str, list[str]] = {}

    def _serve(self, request: httpx.Request) -> httpx.Response:
        key = request.headers["Idempotency-Key"]
        body = json.loads(request.content)
        batch = request.url.path.endswith("/batch")
        items = body["tasks"] if batch else [body]
        replayed = key in self.created
        ids = self.created.setdefault(key, [str(uuid.uuid4()) for _ in items])
        tasks = [
            {
                "id": task_id,
                "status": "PENDING",
                "type": item["type"],
                "created_at": "2026-12-01T00:00:00+00:00",
                "links": {"self": f"/api/tasks/{task_id}"},
            }
            for task_id, item in zip(ids, items, strict=True)
        ]
        answer = {"count": len(tasks), "tasks": tasks} if batch else tasks[0]
        return httpx.Response(200 if replayed else 202, json=answer)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script.pop(0) if self.script else None
        if step is None:
            return self._serve(request)
        if step == "lost":
            self._serve(request)
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        if isinstance(step, Exception):
            raise step
        if isinstance(step, httpx.Response):
            return step
        raise AssertionError(f"bad script step {step!r}")


def _problem(status: int, **headers: str) -> httpx.Response:
    body = {"type": "https://x/problems/p", "title": "T", "status": status, "detail": "d"}
    return httpx.Response(
        status, json=body, headers={"Content-Type": "application/problem+json", **headers}
    )


def _client(api: FakeApi, clock: FakeClock, **options: float) -> Client:
    return Client(
        BASE,
        "k",
        transport=httpx.MockTransport(api),
        sleep=clock.sleep,
        clock=clock,
        **options,
    )


def test_a_lost_answer_429_and_dropped_connections_create_one_task_under_one_key():
    api = FakeApi(
        "lost",
        _problem(429, **{"Retry-After": "2"}),
        httpx.ConnectError("connection refused"),
        _problem(503),
    )
    clock = FakeClock()
    with _client(api, clock, max_retries=4, backoff_s=0.5, max_backoff_s=8.0) as client:
        task = client.submit("echo", {"x": 1})
    assert len(api.requests) == 5
    assert len({r.headers["Idempotency-Key"] for r in api.requests}) == 1
    assert len({r.content for r in api.requests}) == 1
    # The first try created the task; every retry named it, so the last answer replays it.
    assert list(api.created.values()) == [[task.id]]
    assert task.replayed
    first, after_429, after_refused, after_503 = clock.sleeps
    assert 0.25 <= first <= 0.5
    assert after_429 == 2.0
    assert 1.0 <= after_refused <= 2.0
    assert 2.0 <= after_503 <= 4.0


def test_a_batch_resent_after_a_timeout_repeats_its_key():
    api = FakeApi(httpx.ReadTimeout("read timed out"))
    with _client(api, FakeClock()) as client:
        refs = client.submit_batch([TaskSpec("echo"), TaskSpec("echo", {"n": 2})])
    assert len(api.requests) == 2
    assert len({r.headers["Idempotency-Key"] for r in api.requests}) == 1
    assert list(api.created.values()) == [[r.id for r in refs]]


def test_each_submit_call_has_its_own_key_unless_one_is_given():
    api = FakeApi()
    with _client(api, FakeClock()) as client:
        client.submit("echo")
        client.submit("echo")
        client.submit("echo", idempotency_key="mine")
    keys = [r.headers["Idempotency-Key"] for r in api.requests]
    assert len(set(keys[:2])) == 2
    assert keys[2] == "mine"


def test_retry_after_seconds_is_slept_exactly_on_the_fake_clock():
    api = FakeApi(_problem(429, **{"Retry-After": "7"}), _problem(429, **{"Retry-After": "0"}))
    clock = FakeClock()
    with _client(api, clock) as client:
        client.submit("echo")
    assert clock.sleeps == [7.0, 0.0]
    assert len(api.requests) == 3


def test_retry_after_as_an_http_date_is_honoured():
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    api = FakeApi(_problem(429, **{"Retry-After": when}))
    clock = FakeClock()
    with _client(api, clock) as client:
        client.submit("echo")
    (slept,) = clock.sleeps
    # HTTP-dates have whole seconds, and the test itself takes a moment.
    assert 27.0 <= slept <= 30.0


def test_a_retry_after_longer_than_the_bound_raises_rate_limited_at_once():
    api = FakeApi(_problem(429, **{"Retry-After": "120"}))
    clock = FakeClock()
    with (
        _client(api, clock, max_retry_after_s=60.0) as client,
        pytest.raises(RateLimited) as caught,
    ):
        client.submit("echo")
    assert caught.value.retry_after_s == 120.0
    assert clock.sleeps == []
    assert len(api.requests) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ValidationFailed),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (413, ValidationFailed),
        (415, ValidationFailed),
        (422, ValidationFailed),
        (500, ApiError),
    ],
)
def test_other_errors_are_never_retried(status, error):
    api = FakeApi(_problem(status, **{"Retry-After": "1"}))
    clock = FakeClock()
    with _client(api, clock) as client, pytest.raises(error) as caught:
        client.submit("echo")
    assert type(caught.value) is error
    assert caught.value.status == status
    assert caught.value.detail == "d"
    assert len(api.requests) == 1
    assert clock.sleeps == []


def test_503_is_retried_with_growing_capped_backoff_then_raised():
    api = FakeApi(*[_problem(503)] * 10)
    clock = FakeClock()
    options = {"max_retries": 5, "backoff_s": 1.0, "max_backoff_s": 5.0}
    with _client(api, clock, **options) as client, pytest.raises(Unavailable):
        client.get("00000000-0000-7000-8000-000000000000")
    assert len(api.requests) == 6
    ceilings = [1.0, 2.0, 4.0, 5.0, 5.0]
    assert all(c / 2 <= s <= c for s, c in zip(clock.sleeps, ceilings, strict=True))


def test_a_503_retry_after_is_a_floor_of_the_wait():
    api = FakeApi(_problem(503, **{"Retry-After": "3"}))
    clock = FakeClock()
    with _client(api, clock, backoff_s=0.1) as client:
        client.submit("echo")
    assert clock.sleeps == [3.0]


def test_connection_errors_give_up_after_max_retries():
    api = FakeApi(*[httpx.ConnectError("refused")] * 10)
    clock = FakeClock()
    with _client(api, clock, max_retries=2) as client, pytest.raises(ConnectionFailed):
        client.submit("echo")
    assert len(api.requests) == 3
    assert len(clock.sleeps) == 2


def test_a_redrive_is_resent_only_when_it_never_reached_the_server():
    body = {"id": "r1", "state": "PENDING", "dry_run": True}
    body |= {"matched": 0, "redriven": 0, "skipped": 0, "failed": 0}
    refused = FakeApi(httpx.ConnectError("refused"), httpx.Response(202, json=body))
    with _client(refused, FakeClock()) as client:
        assert client.redrive(types=["fail"], dry_run=True).id == "r1"
    assert len(refused.requests) == 2
    broken = FakeApi(httpx.ReadError("connection reset"), httpx.Response(202, json=body))
    with _client(broken, FakeClock()) as client, pytest.raises(ConnectionFailed):
        client.redrive(types=["fail"])
    assert len(broken.requests) == 1


def test_the_async_client_retries_under_the_same_key():
    api = FakeApi("lost", _problem(429, **{"Retry-After": "1"}))
    clock = FakeClock()

    async def scenario() -> None:
        async with AsyncClient(
            BASE, "k", transport=httpx.MockTransport(api), sleep=clock.async_sleep, clock=clock
        ) as client:
            task = await client.submit("echo")
        assert task.replayed
        assert list(api.created.values()) == [[task.id]]

    asyncio.run(scenario())
    assert len({r.headers["Idempotency-Key"] for r in api.requests}) == 1
    assert len(api.requests) == 3
    assert clock.sleeps[1] == 1.0
