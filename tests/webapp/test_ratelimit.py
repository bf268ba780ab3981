"""Rate limits over real HTTP: shared by API processes through Redis, 429 problems with
Retry-After, fail-open when Redis is down, X-Forwarded-For only behind trusted proxies."""

import re

import pytest
import requests

from tests.apiproc import api_process
from tests.conftest import TEST_BROKER_URL
from tests.webapp.apikit import bearer, new_key

ECHO = {"type": "echo", "payload": {}}


@pytest.fixture
def api_env(it_database_url: str) -> dict[str, str]:
    return {"DATABASE_URL": it_database_url, "REDIS_URL": TEST_BROKER_URL}


def test_two_api_processes_share_one_limit_and_answer_429_problems(api_env, engine, test_broker):
    key = new_key(engine, rate_limit="6/minute")
    with api_process(api_env) as first, api_process(api_env) as second:
        codes = []
        for i in range(6):
            base = first if i % 2 == 0 else second
            response = requests.post(
                f"{base}/api/tasks", json=ECHO, headers=bearer(key), timeout=10
            )
            codes.append(response.status_code)
            assert int(response.headers["X-RateLimit-Remaining"]) == 5 - i
        assert codes == [202] * 6
        for base in (first, second):
            refused = requests.post(f"{base}/api/tasks", json=ECHO, headers=bearer(key), timeout=10)
            assert refused.status_code == 429
            assert refused.headers["Content-Type"] == "application/problem+json"
            assert refused.json()["status"] == 429
            assert 0 < int(refused.headers["Retry-After"]) <= 60
            assert refused.headers["X-RateLimit-Limit"] == "6"
        # Another key has its own budget.
        other = requests.post(
            f"{first}/api/tasks", json=ECHO, headers=bearer(new_key(engine)), timeout=10
        )
        assert other.status_code == 202


def test_a_leased_limit_admits_at_most_its_limit_across_api_processes(api_env, engine, test_broker):
    # 3,000 a minute is counted in leases of 3 (webapp/ratelimit_storage.py). Reads cost the
    # same budget check as submits and leave no tasks behind.
    limit = 3_000
    key = new_key(engine, rate_limit=f"{limit}/minute")
    codes = []
    with api_process(api_env) as first, api_process(api_env) as second, requests.Session() as s:
        for i in range(limit + 20):
            base = first if i % 2 == 0 else second
            response = s.get(f"{base}/api/tasks?limit=1", headers=bearer(key), timeout=10)
            codes.append(response.status_code)
            if response.status_code == 200:
                assert 0 <= int(response.headers["X-RateLimit-Remaining"]) < limit
    assert set(codes) == {200, 429}
    # Never more than the limit; fewer by at most the counts each process still held.
    assert limit - 2 * 2 <= codes.count(200) <= limit
    assert codes[-10:] == [429] * 10


def test_scope_limits_apply_per_scope(api_env, engine, test_broker):
    env = {**api_env, "WEBAPP_RATE_LIMIT_SUBMIT": "2/minute", "WEBAPP_RATE_LIMIT_READ": "50/minute"}
    key = new_key(engine)
    with api_process(env) as base:
        ids = [
            requests.post(f"{base}/api/tasks", json=ECHO, headers=bearer(key), timeout=10)
            for _ in range(3)
        ]
        assert [r.status_code for r in ids] == [202, 202, 429]
        read = requests.get(
            ids[0].headers and f"{base}{ids[0].headers['Location']}",
            headers=bearer(key),
            timeout=10,
        )
        assert read.status_code == 200
        assert read.headers["X-RateLimit-Limit"] == "50"


def test_redis_down_fails_open_and_counts_it(api_env, engine):
    # Nothing listens on port 1: every rate-limit check fails to reach its store.
    env = {**api_env, "WEBAPP_RATE_LIMIT_STORAGE_URL": "redis://127.0.0.1:1/0"}
    key = new_key(engine, rate_limit="1/minute")
    with api_process(env) as base:
        codes = [
            requests.post(
                f"{base}/api/tasks", json=ECHO, headers=bearer(key), timeout=10
            ).status_code
            for _ in range(3)
        ]
        exposition = requests.get(f"{base}/metrics", timeout=10).text
    assert codes == [202, 202, 202]
    counted = re.search(r"^rate_limit_storage_errors_total (\S+)$", exposition, re.M)
    assert counted is not None
    assert float(counted.group(1)) >= 3


def test_forwarded_for_is_ignored_unless_proxies_are_trusted(api_env, engine, test_broker):
    env = {
        **api_env,
        "WEBAPP_AUTH_ENABLED": "false",
        "WEBAPP_RATE_LIMIT_DEFAULT": "2/minute",
        "WEBAPP_RATE_LIMIT_SUBMIT": "",
    }
    with api_process(env) as base:
        codes = _post_from_three_addresses(base)
    # Spoofed addresses did not buy fresh budgets: all three came from 127.0.0.1.
    assert codes == [202, 202, 429]
    test_broker.flushdb()
    with api_process({**env, "WEBAPP_TRUSTED_PROXY_COUNT": "1"}) as base:
        codes = _post_from_three_addresses(base)
    # Behind one trusted proxy, its X-Forwarded-For names the client: three clients.
    assert codes == [202, 202, 202]


def _post_from_three_addresses(base: str) -> list[int]:
    return [
        requests.post(
            f"{base}/api/tasks",
            json=ECHO,
            headers={"X-Forwarded-For": f"10.0.0.{i}"},
            timeout=10,
        ).status_code
        for i in range(3)
    ]
