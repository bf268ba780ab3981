"""The console's task list, task page, Retry and Cancel: the API's queries and functions with
the signed-in key's tenant and scopes."""

import re
import uuid

import sqlalchemy as sa
from flask import Flask

from tests.webapp.consolekit import post_form, sign_in


def _client(console: Flask, made, tenant: str = "acme", scopes=("submit", "read")):
    client = console.test_client()
    sign_in(client, made.key(tenant, scopes))
    return client


def test_the_list_shows_the_tenant_s_tasks_and_filters_them(console: Flask, made) -> None:
    marker = uuid.uuid4().hex
    mine = made.task("acme", type_="echo", payload={"m": marker, "k": 1}, status="COMPLETED")
    other_type = made.task("acme", type_="sleep", payload={"m": marker}, status="PENDING")
    theirs = made.task("globex", type_="echo", payload={"m": marker}, status="COMPLETED")
    client = _client(console, made)
    page = client.get(f"/ui/tasks?payload=m={marker}").get_data(as_text=True)
    assert str(mine) in page and str(other_type) in page and str(theirs) not in page
    page = client.get(f"/ui/tasks?payload=m={marker}+k=1").get_data(as_text=True)
    assert str(mine) in page and str(other_type) not in page
    page = client.get(f"/ui/tasks?payload=m={marker}&type=sleep&status=PENDING").get_data(
        as_text=True
    )
    assert str(other_type) in page and str(mine) not in page
    json_form = client.get(f'/ui/tasks?payload={{"m": "{marker}"}}&status=COMPLETED')
    assert str(mine) in json_form.get_data(as_text=True)


def test_another_tenant_s_task_is_a_404_everywhere(console: Flask, made) -> None:
    theirs = made.task("globex", status="FAILED", error="x", error_type="RetryableError")
    client = _client(console, made)
    for path in (f"/ui/tasks/{theirs}", f"/ui/tasks/{theirs}/retry", f"/ui/tasks/{theirs}/cancel"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "no task with id" in response.get_data(as_text=True)
    for action in (f"/ui/tasks/{theirs}/retry", f"/ui/tasks/{theirs}/cancel"):
        assert post_form(client, "/ui/tasks", action, {}).status_code == 404


def test_only_admin_keys_may_filter_by_tenant(console: Flask, made) -> None:
    marker = uuid.uuid4().hex
    theirs = made.task("globex", payload={"m": marker})
    client = _client(console, made)
    refused = client.get(f"/ui/tasks?tenant=globex&payload=m={marker}")
    assert refused.status_code == 403
    text = refused.get_data(as_text=True)
    assert "needs the admin scope" in text and str(theirs) not in text
    assert 'name="tenant"' not in text
    admin = _client(console, made, "acme", ("read", "admin"))
    assert str(theirs) not in admin.get(f"/ui/tasks?payload=m={marker}").get_data(as_text=True)
    shown = admin.get(f"/ui/tasks?tenant=globex&payload=m={marker}").get_data(as_text=True)
    assert str(theirs) in shown and 'name="tenant"' in shown
    every = admin.get(f"/ui/tasks?tenant=*&payload=m={marker}").get_data(as_text=True)
    assert str(theirs) in every
    assert admin.get(f"/ui/tasks/{theirs}").status_code == 200


def test_bad_filters_show_the_api_s_message(console: Flask, made) -> None:
    client = _client(console, made)
    for query, words in (
        ("status=DONE", "status: must be one of"),
        ("payload=novalue", "payload: expected key=value"),
        ("payload={nope", "payload: must be a JSON object"),
        ("cursor=zzz", "cursor: is not a cursor"),
        ("back=zzz", "back: is not a cursor"),
        ("type=" + "t" * 300, "type: must be 1 to 200"),
    ):
        response = client.get(f"/ui/tasks?{query}")
        assert response.status_code == 400, query
        assert words in response.get_data(as_text=True), query
    failed = client.get("/ui/failed?failed_since=yesterday")
    assert failed.status_code == 400
    assert "failed_since: must be an ISO 8601 timestamp" in failed.get_data(as_text=True)


def _link(html: str, rel: str) -> str:
    found = re.search(rf'rel="{rel}" href="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else ""


def test_pages_link_to_the_next_and_previous_page(console: Flask, made) -> None:
    marker = uuid.uuid4().hex
    ids = [str(made.task("acme", payload={"m": marker, "i": i})) for i in range(5)]
    client = _client(console, made)
    pages = []
    url = f"/ui/tasks?payload=m={marker}&limit=2"
    while url:
        html = client.get(url).get_data(as_text=True)
        pages.append([i for i in ids if i in html])
        url = _link(html, "next")
        if len(pages) == 2:
            second = html
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sorted(i for page in pages for i in page) == sorted(ids)
    back = client.get(_link(second, "prev")).get_data(as_text=True)
    assert [i for i in ids if i in back] == pages[0]
    assert 'rel="prev"' not in back


def test_the_task_page_shows_attempts_errors_and_webhooks(console: Flask, made) -> None:
    task_id = made.task(
        "acme",
        type_="fail",
        payload={"times": 10},
        status="FAILED",
        error="RetryableError: still failing",
        error_type="RetryableError",
        attempts=4,
        correlation_id="corr-42",
    )
    made.delivery(task_id, "https://hooks.example/x", "HTTP 500")
    client = _client(console, made)
    html = client.get(f"/ui/tasks/{task_id}").get_data(as_text=True)
    assert html.count('<tr class="attempt">') == 4
    for text in ("corr-42", "RetryableError: still failing", "https://hooks.example/x", "HTTP 500"):
        assert text in html
    assert "/retry" in html and "/cancel" not in html
    assert 'http-equiv="refresh"' not in html


def test_retry_asks_first_then_re_drives_the_task_as_the_api_does(
    console: Flask, made, engine
) -> None:
    task_id = made.task("acme", status="FAILED", error="e", error_type="RetryableError")
    client = _client(console, made)
    confirm = client.get(f"/ui/tasks/{task_id}/retry")
    assert confirm.status_code == 200 and "Yes, re-drive it" in confirm.get_data(as_text=True)
    done = post_form(client, f"/ui/tasks/{task_id}/retry", f"/ui/tasks/{task_id}/retry", {})
    assert done.status_code == 302
    redrive_id = re.search(r"redrive=([0-9a-f-]{36})", done.headers["Location"]).group(1)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT tenant, filter, dry_run, state FROM redrives WHERE id = :i"),
            {"i": redrive_id},
        ).one()
    assert row.tenant == "acme" and row.filter == {"task_ids": [str(task_id)]}
    assert row.dry_run is False and row.state == "PENDING"
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert redrive_id in page and 'http-equiv="refresh"' in page
    assert client.get(f"/ui/redrives/{redrive_id}").status_code == 200
    assert redrive_id in client.get("/ui/redrives").get_data(as_text=True)


def test_retry_of_a_task_that_is_not_failed_is_refused(console: Flask, made) -> None:
    task_id = made.task("acme", status="COMPLETED", result={"ok": True})
    client = _client(console, made)
    assert "only FAILED tasks" in client.get(f"/ui/tasks/{task_id}/retry").get_data(as_text=True)
    refused = post_form(client, "/ui/tasks", f"/ui/tasks/{task_id}/retry", {})
    assert refused.status_code == 409


def test_a_read_only_key_sees_no_buttons_and_may_not_act(console: Flask, made) -> None:
    task_id = made.task("acme", status="FAILED", error="e", error_type="X")
    client = _client(console, made, "acme", ("read",))
    html = client.get(f"/ui/tasks/{task_id}").get_data(as_text=True)
    assert "/retry" not in html
    assert client.get(f"/ui/tasks/{task_id}/retry").status_code == 403
    assert post_form(client, "/ui/tasks", f"/ui/tasks/{task_id}/retry", {}).status_code == 403


def test_cancel_asks_first_then_cancels_with_the_api_s_function(console: Flask, made) -> None:
    task_id = made.task("acme", status="PENDING")
    client = _client(console, made)
    page = client.get(f"/ui/tasks/{task_id}").get_data(as_text=True)
    assert f"/ui/tasks/{task_id}/cancel" in page and 'http-equiv="refresh"' in page
    assert "Yes, cancel it" in client.get(f"/ui/tasks/{task_id}/cancel").get_data(as_text=True)
    done = post_form(client, f"/ui/tasks/{task_id}/cancel", f"/ui/tasks/{task_id}/cancel", {})
    assert done.status_code == 302
    after = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "task cancelled" in after and "CANCELLED" in after
    again = post_form(client, "/ui/tasks", f"/ui/tasks/{task_id}/cancel", {})
    assert again.status_code == 409
    assert "already CANCELLED" in again.get_data(as_text=True)


def test_an_admin_may_not_cancel_another_tenant_s_task(console: Flask, made) -> None:
    theirs = made.task("globex", status="PENDING")
    admin = _client(console, made, "acme", ("read", "submit", "admin"))
    assert "/cancel" not in admin.get(f"/ui/tasks/{theirs}").get_data(as_text=True)
    assert post_form(admin, "/ui/tasks", f"/ui/tasks/{theirs}/cancel", {}).status_code == 403
