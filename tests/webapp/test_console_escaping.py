"""Whatever a task holds is shown as text on every console page that can show it: payload,
result, error, error type, type, correlation id, attempts, webhooks, filters and re-drives."""

import json
import re
from urllib.parse import quote

from flask import Flask

from tests.webapp.consolekit import XSS, post_form, sign_in

ESCAPED = (
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&lt;img src=x onerror=alert(1)&gt;",
    "&lt;/textarea&gt;",
)
RAW = ("<script>alert(1)</script>", "<img src=x onerror", "</textarea>")
EVIL = " ".join(XSS)


def assert_escaped(html: str, where: str, expect_text: bool = True) -> None:
    for raw in RAW:
        assert raw not in html, f"{raw!r} unescaped on {where}"
    assert not re.search(r"<img\b", html), f"an img element on {where}"
    if expect_text:
        assert any(e in html for e in ESCAPED), f"the text itself is missing from {where}"


def test_hostile_task_fields_are_escaped_on_every_page(console: Flask, made) -> None:
    payload = {"evil": EVIL, EVIL: "key", "m": "escape-test"}
    failed = made.task(
        "acme",
        type_=f"fail{XSS[0]}",
        payload=payload,
        status="FAILED",
        error=EVIL,
        error_type=f"Err{XSS[1]}",
        attempts=2,
        correlation_id=XSS[2],
    )
    made.delivery(failed, f"https://x.example/{XSS[1]}", EVIL)
    active = made.task("acme", type_=XSS[0], payload=payload, status="PENDING")
    done = made.task("acme", payload=payload, status="COMPLETED", result={"out": EVIL})
    client = console.test_client()
    sign_in(client, made.key("acme", ("submit", "read", "admin")))
    filt = quote(json.dumps({"evil": EVIL}))
    pages = {
        "list": f"/ui/tasks?payload={filt}",
        "list with hostile filters": f"/ui/tasks?type={quote(XSS[1])}&error_type={quote(XSS[0])}",
        "failed view": f"/ui/failed?payload={filt}",
        "task page (failed)": f"/ui/tasks/{failed}",
        "task page (active)": f"/ui/tasks/{active}",
        "task page (result)": f"/ui/tasks/{done}",
        "retry confirmation": f"/ui/tasks/{failed}/retry",
        "cancel confirmation": f"/ui/tasks/{active}/cancel",
        "bad filter message": f"/ui/tasks?payload={quote(XSS[0])}",
        "admin tenant filter": f"/ui/tasks?tenant={quote(XSS[1])}",
    }
    for where, path in pages.items():
        response = client.get(path)
        assert response.status_code in {200, 400}, (where, response.status_code)
        assert_escaped(response.get_data(as_text=True), where)

    preview = post_form(
        client, "/ui/failed", "/ui/redrives/preview", {"payload": json.dumps({"evil": EVIL})}
    )
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert_escaped(html, "re-drive confirmation")
    dry_id = re.search(r"/ui/redrives/([0-9a-f-]{36})", html).group(1)
    assert_escaped(client.get(f"/ui/redrives/{dry_id}").get_data(as_text=True), "re-drive page")
    assert_escaped(client.get("/ui/redrives").get_data(as_text=True), "re-drives", False)

    retried = post_form(client, f"/ui/tasks/{failed}/retry", f"/ui/tasks/{failed}/retry", {})
    assert retried.status_code == 302
    assert_escaped(client.get(retried.headers["Location"]).get_data(as_text=True), "after retry")
