"""The OpenAPI document and schemathesis against a live API process: no 5xx, and every
response conforms to the document (status codes, content types, headers, bodies)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import requests

from tests.apiproc import api_process
from tests.conftest import TEST_BROKER_URL
from tests.webapp.apikit import new_key

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
# Left out, with reasons:
# - positive_data_acceptance: some rules span fields (a task needs `type` or a payload with an
#   `action`; a string payload must hold a JSON object; created_before > created_after) and
#   JSON Schema cannot state them, so schema-valid requests may rightly get a 422/400.
EXCLUDED = "positive_data_acceptance"


def test_openapi_document_describes_every_route_and_the_security_scheme(app, client):
    doc = client.get("/api/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = {
        (re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule), method)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
        if rule.endpoint not in {"static", "openapi.assets"}
        # The web console's pages are HTML for people, not part of the JSON API's contract.
        and not rule.rule.startswith("/ui")
    }
    assert served <= documented, served - documented


def test_reference_page_is_served_locally(client):
    page = client.get("/api/docs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "http://" not in html and "https://" not in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    with client.get("/api/docs/assets/swagger-ui-bundle.js") as bundle:
        assert bundle.status_code == 200
        assert len(bundle.data) > 100_000
    assert client.get("/api/docs/assets/..%2Fsecrets").status_code == 404


def test_schemathesis_finds_no_server_error_and_no_nonconforming_response(
    it_database_url, engine, tmp_path
):
    key = new_key(engine, "fuzz", ("submit", "read", "admin"), rate_limit="1000000/minute")
    env = {"DATABASE_URL": it_database_url, "REDIS_URL": TEST_BROKER_URL}
    report = tmp_path / "schemathesis.json"
    with api_process(env, workers=2) as base:
        assert requests.get(f"{base}/api/openapi.json", timeout=10).status_code == 200
        run = subprocess.run(
            [
                str(SCHEMATHESIS),
                "run",
                f"{base}/api/openapi.json",
                "--checks",
                "all",
                "--exclude-checks",
                EXCLUDED,
                "-H",
                f"Authorization: Bearer {key}",
                "--max-examples",
                "60",
                "--seed",
                "20261201",
                "--generation-database",
                "none",
                "--no-color",
                "--workers",
                "2",
                "--report",
                "json",
                "--report-json-path",
                str(report),
            ],
            # Its crash cache goes to the working directory: keep it out of the tree.
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    summary = json.loads(report.read_text())
    counts = summary["test_cases"]
    # The figures the issue asks for; pytest -s shows them.
    print(f"schemathesis: {counts} phases={summary['phases']}")
    assert run.returncode == 0, run.stdout[-6000:]
    assert counts["generated"] > 300
    assert counts["with_failures"] == 0
    assert counts["errored"] == 0
    assert summary["failures"] == []
