"""The API's server entry point (`python -m webapp.serve`): its options, its log lines in the
app's format, and a clean stop on SIGTERM."""

import json
import os
import signal
import subprocess
import sys
import time

import click
import pytest
import requests

from tests.apiproc import REPO, free_port
from webapp.serve import parse_bind


@pytest.mark.parametrize(
    ("bind", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("[::1]:8443", ("::1", 8443)),
        ("localhost:65535", ("localhost", 65535)),
    ],
)
def test_bind_is_host_and_port(bind, expected):
    assert parse_bind(bind) == expected


@pytest.mark.parametrize(
    "bind", ["8080", ":8080", "127.0.0.1:", "127.0.0.1:http", "h:0", "h:70000"]
)
def test_a_bad_bind_is_a_usage_error_naming_the_option(bind):
    with pytest.raises(click.BadParameter) as err:
        parse_bind(bind)
    assert err.value.param_hint == "--bind"


def test_server_lines_are_the_apps_json_lines_and_sigterm_stops_it_cleanly():
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(LOG_FORMAT="json", LOG_LEVEL="INFO")
    proc = subprocess.Popen(
        [sys.executable, "-m", "webapp.serve", "--workers", "2", "--bind", f"127.0.0.1:{port}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.communicate()[0]
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    server_lines = [line for line in lines if line["logger"].startswith("_granian")]
    assert {line["service"] for line in lines} == {"api"}
    assert any("worker-2" in line["message"] for line in server_lines), server_lines
    assert any("shutdown" in line["message"].lower() for line in server_lines), server_lines
