"""The console's failed-tasks view and bulk re-drive: a dry run counts the matches, the
confirmation starts the re-drive resource the API would, and its page follows it."""

import re
import uuid

import sqlalchemy as sa
from flask import Flask

from tests.webapp.consolekit import csrf_of, post_form, sign_in


def _client(console: Flask, made, tenant: str = "acme", scopes=("submit", "read")):
    client = console.test_client()
    sign_in(client, made.key(tenant, scopes))
    return client


def test_the_failed_view_lists_failed_tasks_by_the_dlt_filters(console: Flask, made) -> None:
    marker = uuid.uuid4().hex
    retryable = made.task(
        "acme", type_="fail", payload={"m": marker}, status="FAILED", error_type="RetryableError"
    )
    permanent = made.task(
        "acme", type_="fail", payload={"m": marker}, status="FAILED", error_type="ValueError"
    )
    completed = made.task("acme", payload={"m": marker}, status="COMPLETED")
    client = _client(console, made)
    html = client.get(f"/ui/failed?payload=m={marker}").get_data(as_text=True)
    assert str(retryable) in html and str(permanent) in html and str(completed) not in html
    html = client.get(
        f"/ui/failed?payload=m={marker}&error_type=RetryableError&type=fail"
        "&failed_since=2000-01-01T00:00:00Z"
    ).get_data(as_text=True)
    assert str(retryable) in html and str(permanent) not in html
    html = client.get(f"/ui/failed?payload=m={marker}&failed_until=2000-01-01").get_data(
        as_text=True
    )
    assert str(retryable) not in html


def test_bulk_re_drive_counts_first_then_starts_the_api_s_re_drive(
    console: Flask, made, engine
) -> None:
    marker = uuid.uuid4().hex
    ids = {
        str(made.task("acme", type_="fail", payload={"m": marker}, status="FAILED", error_type="E"))
        for _ in range(3)
    }
    theirs = made.task("globex", type_="fail", payload={"m": marker}, status="FAILED")
    client = _client(console, made)
    view = f"/ui/failed?payload=m={marker}"
    preview = post_form(
        client, view, "/ui/redrives/preview", {"payload": f"m={marker}", "rate": "5", "limit": ""}
    )
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert re.search(r'class="matched">3<', html), html
    with engine.connect() as conn:
        states = conn.execute(
            sa.text(
                "SELECT count(*) FROM tasks "
                "WHERE id = ANY(CAST(:i AS uuid[])) AND status = 'FAILED'"
            ),
            {"i": [*ids, str(theirs)]},
        ).scalar_one()
    assert states == 4  # the dry run changed nothing
    start = client.post(
        "/ui/redrives",
        data={
            "csrf_token": csrf_of(html),
            "payload": f"m={marker}",
            "rate": "5",
        },
    )
    assert start.status_code == 302
    redrive_id = start.headers["Location"].rsplit("/", 1)[-1]
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT tenant, filter, rate, dry_run, state FROM redrives WHERE id = :i"),
            {"i": redrive_id},
        ).one()
    assert row.tenant == "acme" and row.filter == {"payload": {"m": marker}}
    assert row.rate == 5.0 and row.dry_run is False and row.state == "PENDING"
    page = client.get(start.headers["Location"])
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "PENDING" in text and 'http-equiv="refresh"' in text
    recent = client.get("/ui/redrives").get_data(as_text=True)
    assert redrive_id in recent


def test_bulk_re_drive_refuses_bad_rate_and_foreign_tenants(console: Flask, made) -> None:
    client = _client(console, made)
    bad = post_form(client, "/ui/failed", "/ui/redrives/preview", {"rate": "fast"})
    assert bad.status_code == 400 and "rate: must be a number" in bad.get_data(as_text=True)
    big = post_form(client, "/ui/failed", "/ui/redrives/preview", {"rate": "1e9"})
    assert big.status_code == 422 and "rate must be a number" in big.get_data(as_text=True)
    foreign = post_form(client, "/ui/failed", "/ui/redrives/preview", {"tenant": "globex"})
    assert foreign.status_code == 400
    admin = _client(console, made, "acme", ("submit", "read", "admin"))
    third = post_form(admin, "/ui/failed", "/ui/redrives/preview", {"tenant": "globex"})
    assert third.status_code == 400 and "own tenant or on every tenant" in third.get_data(
        as_text=True
    )
    every = post_form(admin, "/ui/failed", "/ui/redrives/preview", {"tenant": "*"})
    assert every.status_code == 200 and "of every tenant" in every.get_data(as_text=True)


def test_another_tenant_s_re_drive_is_a_404(console: Flask, made) -> None:
    theirs = _client(console, made, "globex")
    done = post_form(theirs, "/ui/failed", "/ui/redrives/preview", {"type": "fail"})
    dry_id = re.search(r"/ui/redrives/([0-9a-f-]{36})", done.get_data(as_text=True)).group(1)
    mine = _client(console, made)
    assert mine.get(f"/ui/redrives/{dry_id}").status_code == 404
    assert dry_id not in mine.get("/ui/redrives").get_data(as_text=True)
    assert theirs.get(f"/ui/redrives/{dry_id}").status_code == 200
