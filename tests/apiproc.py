"""A real API process (`python -m webapp.serve`) on a free port, for tests that need HTTP
itself: chunked bodies, several processes sharing one rate limit, schemathesis, authentication
turned off."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def api_process(
    env: Mapping[str, str], *, port: int | None = None, workers: int = 1
) -> Iterator[str]:
    """Run the API's server with `env` added; yields its base URL."""
    port = port or free_port()
    full_env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    full_env.update(env)
    log = (REPO / ".stack" / "logs").resolve()
    log.mkdir(parents=True, exist_ok=True)
    with open(log / f"test-api-{port}.log", "ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "webapp.serve",
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{port}",
                "--graceful-timeout",
                "5",
            ],
            cwd=REPO,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"API on port {port} exited; see {log}"
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"API on port {port} did not start"
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
