"""The running worker's task events, as Flower receives them: every one, in batches."""

import ast
import threading
import time
import uuid
from collections import defaultdict
from typing import Any

from celery.events.receiver import EventReceiver

from celery_tasks.config import make_celery
from celery_tasks.settings import BrokerSettings
from tests.e2e.conftest import STACK_BROKER_URL, wait_for

TASKS = 60
EVENT_TYPES = {"task-received", "task-started", "task-succeeded"}


class RecordingReceiver(EventReceiver):  # type: ignore[misc]
    """Celery's event receiver (Flower's), also keeping which events came in each message."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.messages: list[list[dict[str, Any]]] = []
        self.ready = threading.Event()

    def on_consume_ready(self, *args: Any, **kwargs: Any) -> None:
        super().on_consume_ready(*args, **kwargs)
        self.ready.set()

    def _receive(self, body: Any, message: Any, *args: Any, **kwargs: Any) -> None:
        self.messages.append(list(body) if isinstance(body, list) else [body])
        super()._receive(body, message, *args, **kwargs)


def _task_id_of(received: dict[str, Any]) -> str | None:
    # The execute task's only argument is the task's id; events carry the arguments' repr.
    args = ast.literal_eval(received.get("args") or "()")
    return args[0] if args and isinstance(args[0], str) else None


def test_each_task_sends_its_events_once_and_several_share_a_message(api, http):
    app = make_celery(BrokerSettings.from_env(broker_url=STACK_BROKER_URL))
    with app.connection_for_read() as connection:
        receiver = RecordingReceiver(
            connection, handlers={"*": lambda event: None}, routing_key="task.#", app=app
        )
        thread = threading.Thread(target=receiver.capture, kwargs={"wakeup": False}, daemon=True)
        thread.start()
        assert receiver.ready.wait(15), "the event receiver did not start"
        marker = uuid.uuid4().hex
        body = {"tasks": [{"type": "echo", "payload": {"n": i, "m": marker}} for i in range(TASKS)]}
        response = http.post(f"{api}/api/tasks/batch", json=body, timeout=30)
        assert response.status_code == 202, response.text
        ids = [task["id"] for task in response.json()["tasks"]]
        finished = wait_for(http, ids, timeout_s=60)
        assert {task["status"] for task in finished.values()} == {"COMPLETED"}

        # Each task's last event is published at most a flush interval after it finished.
        deadline = time.monotonic() + 10
        types_by_message_id: dict[str, list[str]] = defaultdict(list)
        ours: set[str] = set(ids)
        while time.monotonic() < deadline:
            task_of: dict[str, str] = {}
            types_by_message_id.clear()
            for events in list(receiver.messages):
                for event in events:
                    if event["type"] == "task-received":
                        task_id = _task_id_of(event)
                        if task_id in ours:
                            task_of[event["uuid"]] = task_id
                    types_by_message_id[event.get("uuid", "")].append(event["type"])
            done = [u for u in task_of if "task-succeeded" in types_by_message_id[u]]
            if len(set(task_of[u] for u in done)) == TASKS:
                break
            time.sleep(0.2)
        receiver.should_stop = True
        thread.join(10)

    assert set(task_of.values()) == ours, "a task's task-received event never arrived"
    for message_id, task_id in task_of.items():
        seen = sorted(t for t in types_by_message_id[message_id] if t in EVENT_TYPES)
        assert seen == sorted(EVENT_TYPES), f"task {task_id}: {seen}"

    # Batching: the messages that carried these tasks' events held several events each
    # (Celery's own loop published one or two per message under the same load).
    carrying = [
        events for events in receiver.messages if any(e.get("uuid") in task_of for e in events)
    ]
    sent = sum(len(events) for events in carrying)
    assert sent >= 3 * TASKS
    assert sent / len(carrying) >= 4, f"{sent} events in {len(carrying)} messages"
