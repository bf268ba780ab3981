"""Flower behind basic authentication, checked over HTTP and in Debian's Chromium."""

import base64
import json
import os
import time
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.conftest import REPO, submit, wait_for

FLOWER = "http://127.0.0.1:5555"
CREDENTIALS_FILE = REPO / ".stack" / "flower" / "credentials"
ARTIFACTS = REPO / "artifacts"


def credentials() -> str:
    """user:password of Flower: FLOWER_BASIC_AUTH, else what ops/stack.sh generated."""
    found = os.environ.get("FLOWER_BASIC_AUTH") or CREDENTIALS_FILE.read_text().strip()
    assert ":" in found
    return found


def test_flower_answers_401_without_credentials_and_200_with_them():
    user, password = credentials().split(":", 1)
    assert requests.get(f"{FLOWER}/", timeout=10).status_code == 401
    assert requests.get(f"{FLOWER}/api/workers", timeout=10).status_code == 401
    wrong = requests.get(f"{FLOWER}/", auth=(user, password + "x"), timeout=10)
    assert wrong.status_code == 401
    assert requests.get(f"{FLOWER}/", auth=(user, password), timeout=10).status_code == 200
    metrics = requests.get(f"{FLOWER}/metrics", timeout=10)
    assert metrics.status_code == 200
    assert "flower_worker_online" in metrics.text


def _message_id_of(task_id: str) -> str:
    """The Celery message id the bridge logged for `task_id` (JSON log)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for line in (REPO / ".stack" / "logs" / "bridge.log").read_text().splitlines():
            if task_id in line and line.startswith("{"):
                message = json.loads(line)["message"]
                if "queued for Celery as message" in message:
                    return message.split(" as message ")[1].split()[0]
        time.sleep(0.5)
    raise AssertionError(f"the bridge did not log task {task_id}")


@pytest.fixture
def browser():
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1400,900")
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    yield driver
    driver.quit()


def _text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def test_browser_logs_in_sees_the_worker_online_and_a_finished_task(api, http, browser):
    task = submit(http, {"type": "echo", "payload": {"flower": True}})
    assert wait_for(http, [task["id"]], timeout_s=30)[task["id"]]["status"] == "COMPLETED"
    message_id = _message_id_of(task["id"])
    ARTIFACTS.mkdir(exist_ok=True)

    # The browser's login: every request carries the basic-auth header, as after the prompt.
    token = base64.b64encode(credentials().encode()).decode()
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd(
        "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}}
    )
    wait = WebDriverWait(browser, 30)
    browser.get(f"{FLOWER}/workers")
    wait.until(lambda d: "worker1@" in _text(d) and "Online" in _text(d))
    assert "Access denied" not in _text(browser)
    browser.save_screenshot(str(ARTIFACTS / "flower-workers.png"))

    browser.get(f"{FLOWER}/task/{message_id}")
    wait.until(lambda d: "SUCCESS" in _text(d) and task["id"] in _text(d))
    browser.save_screenshot(str(ARTIFACTS / "flower-task.png"))
    assert Path(ARTIFACTS / "flower-task.png").stat().st_size > 10_000
