"""ops/prometheus: promtool accepts the configs and rules, and its unit tests cover every alert."""

import subprocess
from pathlib import Path

import yaml

PROM = Path(__file__).resolve().parents[2] / "ops" / "prometheus"
RULES = PROM / "rules" / "taskservice.yml"
RULE_TESTS = PROM / "tests" / "alerts_test.yml"


def _promtool(*args: str) -> str:
    out = subprocess.run(
        ["promtool", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


def _alerts() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_accepts_both_scrape_configs_and_the_rules():
    for config in ("prometheus.yml", "prometheus-compose.yml"):
        assert "SUCCESS" in _promtool("check", "config", str(PROM / config))
    assert f"SUCCESS: {len(_alerts())} rules found" in _promtool("check", "rules", str(RULES))


def test_promtool_rule_tests_pass():
    assert "SUCCESS" in _promtool("test", "rules", str(RULE_TESTS))


def test_every_alert_has_a_summary_runbook_severity_and_a_firing_test():
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    quiet = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if not case.get("exp_alerts")
    }
    names = {rule["alert"] for rule in _alerts()}
    assert len(names) >= 6
    assert fired == names
    assert quiet == names
    for rule in _alerts():
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["runbook"], rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]


def test_local_and_compose_configs_scrape_the_same_jobs():
    local = yaml.safe_load((PROM / "prometheus.yml").read_text())
    compose = yaml.safe_load((PROM / "prometheus-compose.yml").read_text())
    local_jobs = {job["job_name"] for job in local["scrape_configs"]}
    compose_jobs = {job["job_name"] for job in compose["scrape_configs"]}
    assert local_jobs == {"api", "relay", "bridge", "worker", "flower", "prometheus"}
    assert compose_jobs == local_jobs | {"celery-exporter"}
