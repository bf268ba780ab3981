"""`ops/bench/run.py --quick` against the running stack: it exits 0 and writes a JSON report
with every row and only finite numbers (no timing is asserted: the figures are the machine's).

It stops and starts the relay, the bridge and the worker; run it under the stack lock when others
share the stack: `flock /tmp/taskservice-stack.lock .venv/bin/pytest tests/ops/test_bench.py`.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROWS = {
    "base.celery_drain", "base.celery_start_p50", "base.celery_start_p95",
    "base.celery_start_p99", "base.pg_single", "base.pg_batch", "base.kafka_produce",
    "base.kafka_consume", "base.celery_drain_batched", "project.drain",
    "project.drain_vs_batched", "project.single_idle", "project.single_draining",
    "project.batch", "latency.low_start_p50", "latency.low_start_p95", "latency.low_start_p99",
    "latency.low_finish_p50", "latency.low_finish_p95", "latency.low_finish_p99",
    "latency.half_start_p50", "latency.half_start_p95", "latency.half_start_p99",
    "latency.half_finish_p50", "latency.half_finish_p95", "latency.half_finish_p99",
    "cpu.raw_worker", "cpu.raw_redis", "cpu.raw_sender", "cpu.raw_total", "cpu.raw_batched_total",
    "cpu.total_vs_batched", "cpu.api",
    "cpu.relay", "cpu.bridge", "cpu.worker", "cpu.beat", "cpu.flower", "cpu.postgres",
    "cpu.redis", "cpu.kafka", "cpu.total", "flower.rss_before", "flower.rss_after",
    "gate.accepted", "gate.completed_once", "gate.multi_attempt", "gate.retries",
    "gate.duplicates", "gate.request_errors", "gate.passed",
}  # fmt: skip

pytestmark = pytest.mark.e2e


def test_quick_bench_exits_0_and_writes_every_row(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "ops" / "bench" / "run.py"), "--quick", "--out-dir", tmp_path],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    reports = list(tmp_path.glob("*.json"))
    assert len(reports) == 1, reports
    document = json.loads(reports[0].read_text())
    rows = {row["key"]: row for row in document["rows"]}
    assert rows.keys() >= ROWS, ROWS - rows.keys()
    for key, row in rows.items():
        assert isinstance(row["value"], float) and math.isfinite(row["value"]), key
        assert row["ratio"] is None or math.isfinite(row["ratio"]), key
    assert document["gate"]["passed"] is True
    assert rows["gate.completed_once"]["value"] == rows["gate.accepted"]["value"] > 0
