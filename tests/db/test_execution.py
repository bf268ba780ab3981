"""The worker's claim and final writes against the real PostgreSQL (test database)."""

import uuid

import sqlalchemy as sa

from db.execution import cancel_if_requested, claim_task, task_state
from db.outcomes import complete_task, fail_task, schedule_retry
from db.reconcile import reconcile
from db.tasks_repo import NewTask, insert_tasks

OWNER = "test-host:1"


def new_task(engine, **fields) -> uuid.UUID:
    spec = {"type": "echo", "payload": {}, "max_attempts": 4} | fields
    with engine.begin() as conn:
        (task,) = insert_tasks(conn, [NewTask(**spec)])
    return task.id


def row(engine, task_id):
    with engine.connect() as conn:
        return (
            conn.execute(sa.text("SELECT * FROM tasks WHERE id = :i"), {"i": task_id})
            .mappings()
            .one()
        )


def test_claim_is_a_compare_and_set_counting_attempts(engine, clean_outbox):
    task_id = new_task(engine)
    with engine.begin() as conn:
        first = claim_task(conn, task_id, 30, OWNER)
        second = claim_task(conn, task_id, 30, OWNER)
    assert first is not None
    assert first.attempt == 1
    assert second is None
    assert row(engine, task_id)["status"] == "PROCESSING"
    assert row(engine, task_id)["lease_owner"] == OWNER


def test_stale_attempt_cannot_overwrite_a_newer_one(engine, clean_outbox):
    task_id = new_task(engine)
    with engine.begin() as conn:
        old = claim_task(conn, task_id, 30, OWNER)
        # The old attempt's lease expires; a new attempt takes over.
        conn.execute(
            sa.text("UPDATE tasks SET lease_expires_at = now() - interval '1 s' WHERE id = :i"),
            {"i": task_id},
        )
        new = claim_task(conn, task_id, 30, OWNER)
    assert old is not None and new is not None
    assert new.attempt == 2
    with engine.begin() as conn:
        assert not complete_task(conn, old, {"from": "old"}, {})
        assert schedule_retry(conn, old, "e", "E", 1) is None
        assert not fail_task(conn, task_id, old.lease_token, "e", "E")
        assert complete_task(conn, new, {"from": "new"}, {"n": 1})
    final = row(engine, task_id)
    assert (final["status"], final["attempts"], final["result"]) == (
        "COMPLETED",
        2,
        {"from": "new"},
    )
    with engine.connect() as conn:
        effects = conn.execute(
            sa.text("SELECT count(*) FROM task_effects WHERE task_id = :i"), {"i": task_id}
        ).scalar_one()
    assert effects == 1


def test_attempts_never_exceed_max_attempts(engine, clean_outbox):
    task_id = new_task(engine, max_attempts=2)
    for _ in range(2):
        with engine.begin() as conn:
            claim = claim_task(conn, task_id, 30, OWNER)
            assert claim is not None
            assert schedule_retry(conn, claim, "e", "E", 0) is not None
    with engine.begin() as conn:
        assert claim_task(conn, task_id, 30, OWNER) is None
    assert row(engine, task_id)["attempts"] == 2


def test_takeover_needs_the_exact_token_of_the_dead_attempt(engine, clean_outbox):
    task_id = new_task(engine)
    with engine.begin() as conn:
        first = claim_task(conn, task_id, 300, OWNER)
        assert first is not None
        assert claim_task(conn, task_id, 300, OWNER, takeover_token=uuid.uuid4()) is None
        taken = claim_task(conn, task_id, 300, OWNER, takeover_token=first.lease_token)
    assert taken is not None
    assert taken.attempt == 2


def test_fail_task_queues_one_dlt_outbox_row(engine, clean_outbox):
    task_id = new_task(engine, correlation_id="corr-f")
    with engine.begin() as conn:
        claim = claim_task(conn, task_id, 30, OWNER)
        assert claim is not None
        assert fail_task(conn, task_id, claim.lease_token, "ValueError: x", "ValueError")
        rows = conn.execute(
            sa.text("SELECT topic, value, headers FROM outbox WHERE key = :k"), {"k": str(task_id)}
        ).all()
    dlt = [r for r in rows if r.topic == "tasks-dlt"]
    assert len(dlt) == 1
    assert dlt[0].value["error_type"] == "ValueError"
    assert dlt[0].value["attempts"] == 1
    assert dlt[0].headers == {"correlation_id": "corr-f"}


def test_cancel_requested_retry_becomes_cancelled(engine, clean_outbox):
    task_id = new_task(engine)
    with engine.begin() as conn:
        claim = claim_task(conn, task_id, 30, OWNER)
        assert claim is not None
        conn.execute(
            sa.text("UPDATE tasks SET cancel_requested = true WHERE id = :i"), {"i": task_id}
        )
        assert str(schedule_retry(conn, claim, "e", "E", 5)) == "CANCELLED"
        assert claim_task(conn, task_id, 30, OWNER) is None
        state = task_state(conn, task_id)
    assert state is not None and state.status == "CANCELLED"


def test_cancel_if_requested_leaves_live_attempts_alone(engine, clean_outbox):
    task_id = new_task(engine)
    with engine.begin() as conn:
        claim = claim_task(conn, task_id, 30, OWNER)
        conn.execute(
            sa.text("UPDATE tasks SET cancel_requested = true WHERE id = :i"), {"i": task_id}
        )
        assert not cancel_if_requested(conn, task_id)
        assert claim is not None
        assert cancel_if_requested(conn, task_id, orphan_token=claim.lease_token)


def test_reconciler_recovers_expired_leases_and_fails_spent_ones(engine, clean_outbox):
    retry_id = new_task(engine, max_attempts=3)
    spent_id = new_task(engine, max_attempts=1)
    with engine.begin() as conn:
        assert claim_task(conn, retry_id, 30, OWNER) is not None
        assert claim_task(conn, spent_id, 30, OWNER) is not None
        conn.execute(
            sa.text(
                "UPDATE tasks SET lease_expires_at = now() - interval '1 s' WHERE id IN (:a, :b)"
            ),
            {"a": retry_id, "b": spent_id},
        )
        conn.execute(sa.text("DELETE FROM outbox"))
        report = reconcile(conn, broker_epoch=None, lost_after_s=3600, batch=100)
        topics = dict(conn.execute(sa.text("SELECT key, topic FROM outbox")).all())
    assert report.processing_recovered >= 1
    assert report.exhausted_failed >= 1
    assert row(engine, retry_id)["status"] == "RETRYING"
    assert row(engine, retry_id)["error_type"] == "WorkerLostError"
    assert row(engine, spent_id)["status"] == "FAILED"
    assert topics[str(retry_id)] == "tasks"
    assert topics[str(spent_id)] == "tasks-dlt"


def test_reconciler_redispatches_stale_pending_tasks_once(engine, clean_outbox):
    task_id = new_task(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM outbox"))
        conn.execute(
            sa.text("UPDATE tasks SET updated_at = now() - interval '10 min' WHERE id = :i"),
            {"i": task_id},
        )
        # A batch larger than every stale row other suites may have left in the shared test
        # database, so this task is sure to be among those taken.
        first = reconcile(conn, broker_epoch=None, lost_after_s=60, batch=100_000)
        second = reconcile(conn, broker_epoch=None, lost_after_s=60, batch=100_000)
        keys = [r[0] for r in conn.execute(sa.text("SELECT key FROM outbox"))]
    assert first.pending_redispatched >= 1
    assert second.pending_redispatched == 0
    assert keys.count(str(task_id)) == 1


def test_reconciler_cancels_flagged_tasks_instead_of_redispatching(engine, clean_outbox):
    running = new_task(engine)
    with engine.begin() as conn:
        assert claim_task(conn, running, 30, OWNER) is not None
        conn.execute(
            sa.text(
                "UPDATE tasks SET cancel_requested = true, "
                "lease_expires_at = now() - interval '1 s' WHERE id = :i"
            ),
            {"i": running},
        )
        conn.execute(sa.text("DELETE FROM outbox"))
        report = reconcile(conn, broker_epoch=None, lost_after_s=3600, batch=100)
        queued = conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one()
    assert report.cancelled >= 1
    assert row(engine, running)["status"] == "CANCELLED"
    assert queued == 0


def test_reconcile_report_adds_runs_and_knows_when_a_batch_was_full():
    from db.reconcile import ReconcileReport

    total = ReconcileReport()
    total.add(ReconcileReport(pending_redispatched=500))
    total.add(ReconcileReport(pending_redispatched=20, cancelled=1))
    assert (total.pending_redispatched, total.cancelled, total.total) == (520, 1, 521)
    assert ReconcileReport(retrying_redispatched=500).saturated(500)
    assert not ReconcileReport(pending_redispatched=499, cancelled=3).saturated(500)
