"""Completion webhooks through the running stack: the stack's relay posts to a local receiver
(the stack allows private targets, WEBAPP_/RELAY_WEBHOOKS_ALLOW_PRIVATE), an API that does not
allow them refuses such callbacks at submission."""

import json
import time
from collections.abc import Iterator

import pytest
import requests

from tests.apiproc import api_process
from tests.e2e.conftest import API, auth_headers, get, submit, wait_for
from tests.webhook_receiver import Receiver, verify_signature


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    # The first two posts fail, as a receiver being deployed would; the third is accepted.
    found = Receiver([500, 503])
    yield found
    found.close()


def _wait_accepted(receiver: Receiver, count: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while len(receiver.accepted()) < count:
        assert time.monotonic() < deadline, receiver.requests
        time.sleep(0.1)


def test_a_completed_task_is_posted_once_signed_after_its_receiver_failed_twice(
    api, http, receiver
):
    task = submit(http, {"type": "echo", "payload": {"hook": 1}, "callback_url": receiver.url})
    view = wait_for(http, [task["id"]], timeout_s=60)[task["id"]]
    assert view["status"] == "COMPLETED"
    _wait_accepted(receiver, 1)
    # Nothing more comes once it was accepted.
    time.sleep(3)
    assert [status for _, _, status in receiver.requests] == [500, 503, 204]
    assert len({headers["webhook-id"] for headers, _, _ in receiver.requests}) == 1

    headers, body, _ = receiver.accepted()[0]
    config = http.get(f"{API}/api/webhooks", timeout=10)
    assert config.status_code == 200, config.text
    assert verify_signature(config.json()["secret"], headers, body)
    event = json.loads(body)
    assert event["type"] == "task.completed"
    assert (event["data"]["id"], event["data"]["status"]) == (task["id"], "COMPLETED")
    assert event["data"]["result"] == view["result"]

    deliveries = http.get(f"{API}/api/tasks/{task['id']}/webhooks", timeout=10).json()["items"]
    assert [(d["state"], d["attempts"], d["last_status"]) for d in deliveries] == [
        ("delivered", 3, 204)
    ]


def test_a_failed_task_is_posted_with_its_error(api, http):
    receiver = Receiver([])
    try:
        body = {"type": "fail", "payload": {"permanent": True}, "callback_url": receiver.url}
        task = submit(http, body)
        assert get(http, task["id"])["callback_url"] == receiver.url
        wait_for(http, [task["id"]], timeout_s=60)
        _wait_accepted(receiver, 1)
        event = json.loads(receiver.accepted()[0][1])
    finally:
        receiver.close()
    assert event["type"] == "task.failed"
    assert (event["data"]["status"], event["data"]["error_type"]) == ("FAILED", "PermanentError")


REFUSED = [
    ("http://127.0.0.1:9/hook", "loopback"),
    ("http://localhost:9/hook", "loopback"),
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http://10.1.2.3/hook", "private"),
    ("http://[::1]:9/hook", "loopback"),
    ("ftp://example.com/hook", "http or https"),
    ("http://user:secret@example.com/hook", "credentials"),
]


def test_an_api_that_does_not_allow_private_targets_refuses_them(api):
    with api_process({"WEBAPP_WEBHOOKS_ALLOW_PRIVATE": "false"}) as base:
        for url, reason in REFUSED:
            response = requests.post(
                f"{base}/api/tasks",
                json={"type": "echo", "payload": {}, "callback_url": url},
                headers=auth_headers(),
                timeout=30,
            )
            assert response.status_code == 422, (url, response.text)
            assert response.headers["Content-Type"].startswith("application/problem+json")
            problem = response.json()
            assert problem["field"] == "callback_url", problem
            assert reason in problem["detail"], (url, problem)
