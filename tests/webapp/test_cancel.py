"""POST /api/tasks/<id>/cancel: every state, and a cancelled task's queued message cannot run."""

from datetime import UTC, datetime, timedelta

from db.execution import claim_task
from db.ids import parse_task_id
from db.outcomes import complete_task
from tests.webapp.apikit import bearer, new_key


def _submit(client, headers, **extra):
    response = client.post("/api/tasks", json={"type": "echo", **extra}, headers=headers)
    assert response.status_code == 202
    return response.json["id"]


def test_pending_task_is_cancelled_and_its_queued_message_cannot_claim_it(client, engine):
    headers = bearer(new_key(engine))
    task_id = _submit(client, headers)
    response = client.post(f"/api/tasks/{task_id}/cancel", headers=headers)
    assert response.status_code == 200
    assert response.json["status"] == "CANCELLED"
    assert response.json["finished_at"]
    # What a worker does when the message queued before the cancellation arrives.
    with engine.begin() as conn:
        assert claim_task(conn, parse_task_id(task_id), lease_s=30, owner="test:1") is None
    view = client.get(f"/api/tasks/{task_id}", headers=headers).json
    assert (view["status"], view["attempts"]) == ("CANCELLED", 0)


def test_scheduled_task_is_cancelled(client, engine):
    headers = bearer(new_key(engine))
    run_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    task_id = _submit(client, headers, run_at=run_at)
    assert client.get(f"/api/tasks/{task_id}", headers=headers).json["status"] == "SCHEDULED"
    response = client.post(f"/api/tasks/{task_id}/cancel", headers=headers)
    assert (response.status_code, response.json["status"]) == (200, "CANCELLED")


def test_processing_task_records_the_request_and_terminal_task_is_409(client, engine):
    headers = bearer(new_key(engine))
    task_id = _submit(client, headers)
    with engine.begin() as conn:
        claim = claim_task(conn, parse_task_id(task_id), lease_s=30, owner="test:1")
    assert claim is not None
    response = client.post(f"/api/tasks/{task_id}/cancel", headers=headers)
    assert response.status_code == 202
    assert (response.json["status"], response.json["cancel_requested"]) == ("PROCESSING", True)
    with engine.begin() as conn:
        assert complete_task(conn, claim, {"ok": True}, {"ok": True})
    done = client.post(f"/api/tasks/{task_id}/cancel", headers=headers)
    assert done.status_code == 409
    assert done.json["task_status"] == "COMPLETED"


def test_unknown_or_malformed_id_is_404(client, engine):
    headers = bearer(new_key(engine))
    for task_id in ["nope", "01a22f5b-6b1b-7217-9703-ea706d06925b"]:
        assert client.post(f"/api/tasks/{task_id}/cancel", headers=headers).status_code == 404


def test_cancel_needs_the_submit_scope(client, engine):
    task_id = _submit(client, bearer(new_key(engine, "scoped")))
    reader = bearer(new_key(engine, "scoped", scopes=("read",)))
    assert client.post(f"/api/tasks/{task_id}/cancel", headers=reader).status_code == 403
