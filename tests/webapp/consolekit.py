"""Helpers of the web console's tests: an app with a signing key, signed-in clients, tasks
written straight into the integration database (FAILED ones with their attempts), and the
clean-up of everything a test made."""

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from db.ids import created_at_of
from db.models import task_attempts_table, webhook_deliveries_table
from db.tasks_repo import NewTask, insert_tasks
from tests.webapp.apikit import make_settings, new_key
from webapp.app import close_app, create_app

SECRET = "console-test-secret-" + "x" * 32
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
XSS = ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "</textarea>")


def console_app(database_url: str, **overrides: object) -> Flask:
    """The API with its console, on the integration database."""
    settings: dict[str, object] = {"ui_secret_key": SECRET, **overrides}
    return create_app(make_settings(database_url, **settings))


def close(app: Flask) -> None:
    close_app(app)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client: FlaskClient, key: str) -> None:
    """Sign `client` in with `key` through the form, as a person would."""
    form = client.get("/ui/sign-in")
    response = client.post(
        "/ui/sign-in", data={"api_key": key, "csrf_token": csrf_of(form.get_data(as_text=True))}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def post_form(client: FlaskClient, page: str, action: str, data: dict[str, Any]) -> Any:
    """POST `data` to `action` with the CSRF token of `page`, as its form would."""
    token = csrf_of(client.get(page).get_data(as_text=True))
    return client.post(action, data={**data, "csrf_token": token})


@dataclass
class Made:
    """What a test wrote, deleted afterwards."""

    engine: sa.Engine
    task_ids: list[uuid.UUID] = field(default_factory=list)
    key_ids: list[str] = field(default_factory=list)

    def key(self, tenant: str, scopes: tuple[str, ...] = ("submit", "read")) -> str:
        key = new_key(self.engine, tenant, scopes)
        with self.engine.connect() as conn:
            key_id = conn.execute(
                sa.text("SELECT id FROM api_keys WHERE key_hash = encode(sha256(:k), 'hex')"),
                {"k": key.encode()},
            ).scalar_one()
        self.key_ids.append(str(key_id))
        return key

    def task(
        self,
        tenant: str | None,
        *,
        type_: str = "echo",
        payload: dict[str, Any] | None = None,
        status: str = "PENDING",
        error: str | None = None,
        error_type: str | None = None,
        result: Any = None,
        attempts: int = 0,
        correlation_id: str = "console-test",
    ) -> uuid.UUID:
        """A task of `tenant`, in `status`, with one finished attempt per `attempts`."""
        new = NewTask(
            type=type_,
            payload=payload or {"n": 1},
            max_attempts=4,
            tenant=tenant,
            correlation_id=correlation_id,
        )
        with self.engine.begin() as conn:
            (inserted,) = insert_tasks(conn, [new])
            task_id = inserted.id
            self.task_ids.append(task_id)
            finished = status in {"COMPLETED", "FAILED", "CANCELLED"}
            conn.execute(
                sa.text(
                    "UPDATE tasks SET status = :s, last_error = :e, error_type = :t, "
                    "result = CAST(:r AS jsonb), attempts = :a, "
                    "finished_at = CASE WHEN :f THEN now() END "
                    "WHERE id = :id AND created_at = :c"
                ),
                {
                    "s": status,
                    "e": error,
                    "t": error_type,
                    "r": None if result is None else json.dumps(result),
                    "a": attempts,
                    "f": finished,
                    "id": task_id,
                    "c": created_at_of(task_id),
                },
            )
            for n in range(1, attempts + 1):
                last = n == attempts
                conn.execute(
                    sa.insert(task_attempts_table).values(
                        task_id=task_id,
                        task_created_at=created_at_of(task_id),
                        run=0,
                        attempt=n,
                        worker=f"host:{n}",
                        started_at=sa.func.now(),
                        finished_at=sa.func.now(),
                        outcome="failed" if last and status == "FAILED" else "retried",
                        error_type=error_type,
                        error=error,
                        duration_s=0.01,
                    )
                )
        return task_id

    def delivery(self, task_id: uuid.UUID, url: str, error: str) -> None:
        """A webhook delivery of the task that failed with `error`."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.insert(webhook_deliveries_table).values(
                    id=uuid.uuid4(),
                    task_id=task_id,
                    task_created_at=created_at_of(task_id),
                    tenant=None,
                    url=url,
                    event="task.failed",
                    payload={},
                    state="failed",
                    attempts=3,
                    next_attempt_at=sa.func.now(),
                    last_status=500,
                    last_error=error,
                    created_at=sa.func.now(),
                )
            )

    def cleanup(self) -> None:
        ids = [str(i) for i in self.task_ids]
        with self.engine.begin() as conn:
            if self.key_ids:
                redrive_ids = [
                    r[0]
                    for r in conn.execute(
                        sa.text("SELECT id FROM redrives WHERE created_by = ANY(:k)"),
                        {"k": self.key_ids},
                    )
                ]
                if redrive_ids:
                    conn.execute(
                        sa.text("DELETE FROM redrive_items WHERE redrive_id = ANY(:r)"),
                        {"r": redrive_ids},
                    )
                    conn.execute(
                        sa.text("DELETE FROM redrives WHERE id = ANY(:r)"), {"r": redrive_ids}
                    )
            if ids:
                for table, column in (
                    ("task_attempts", "task_id"),
                    ("webhook_deliveries", "task_id"),
                    ("tasks", "id"),
                ):
                    conn.execute(
                        sa.text(f"DELETE FROM {table} WHERE {column} = ANY(CAST(:ids AS uuid[]))"),
                        {"ids": ids},
                    )
                conn.execute(sa.text("DELETE FROM outbox WHERE key = ANY(:ids)"), {"ids": ids})
