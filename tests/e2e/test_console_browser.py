"""The web console in Debian's Chromium (Selenium, headless) against the running stack: find a
task that failed four times in the failed view, read its attempts, retry it and watch it
complete; and a task full of HTML shows it as text without running any of it."""

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.conftest import API, REPO, api_key, submit, wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = REPO / "artifacts"
HOSTILE = {
    "script": "<script>alert(1)</script>",
    "img": '"><img src=x onerror=alert(1)>',
    "textarea": "</textarea>",
}


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    # Missing packages fail the test: ops/stack.sh installs both (chromium, chromium-driver).
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run ops/stack.sh up (as root)"
    assert CHROMEDRIVER.exists(), f"{CHROMEDRIVER} is missing: run ops/stack.sh up (as root)"
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1400,1000")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def _body(driver: WebDriver) -> str:
    """The page's text. A page that replaced its body between the find and the read (the
    sign-in's redirect still finishing, in one CI run) left a stale reference: read again."""
    page = WebDriverWait(driver, 10, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: (d.find_element(By.TAG_NAME, "body").text,)
    )
    return str(page[0])


def _sign_in(driver: WebDriver) -> None:
    driver.get(f"{API}/ui/")
    WebDriverWait(driver, 10).until(lambda d: "/ui/sign-in" in d.current_url)
    driver.find_element(By.NAME, "api_key").send_keys(api_key())
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: "/ui/tasks" in d.current_url)
    WebDriverWait(driver, 10).until(lambda d: "Sign out" in _body(d))


def _no_alert(driver: WebDriver) -> None:
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018 - the property raises when no dialog is open


def _status(driver: WebDriver) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, "p.lead .status").text)


def test_a_failed_task_is_found_read_retried_and_completes_in_the_browser(
    api, http, browser
) -> None:
    marker = uuid.uuid4().hex
    task = submit(
        http,
        {
            "type": "fail",
            "payload": {"times": 10, "healed_after_redrives": 1, "console": marker},
            "max_attempts": 4,
        },
    )
    failed = wait_for(http, [task["id"]], timeout_s=120)[task["id"]]
    assert failed["status"] == "FAILED" and failed["attempts"] == 4, failed
    ARTIFACTS.mkdir(exist_ok=True)
    started = time.monotonic()

    _sign_in(browser)
    browser.find_element(By.LINK_TEXT, "Failed").click()
    field = browser.find_element(By.NAME, "payload")
    field.send_keys(f"console={marker}")
    field.submit()
    WebDriverWait(browser, 10).until(lambda d: marker in d.current_url)
    rows = browser.find_elements(By.CSS_SELECTOR, "table.rows tbody tr")
    assert len(rows) == 1, _body(browser)
    rows[0].find_element(By.LINK_TEXT, task["id"]).click()

    WebDriverWait(browser, 10).until(lambda d: task["id"] in d.title)
    assert _status(browser) == "FAILED"
    attempts = browser.find_elements(By.CSS_SELECTOR, "tr.attempt")
    assert len(attempts) == 4, _body(browser)
    outcomes = [row.find_elements(By.TAG_NAME, "td")[6].text for row in attempts]
    assert outcomes == ["retried", "retried", "retried", "failed"], outcomes
    assert all("RetryableError" in row.text for row in attempts)
    browser.save_screenshot(str(ARTIFACTS / "console-failed-task.png"))

    browser.find_element(By.LINK_TEXT, "Retry").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("/retry"))
    assert "Re-drive task" in _body(browser)
    browser.find_element(By.XPATH, "//button[normalize-space()='Yes, re-drive it']").click()
    WebDriverWait(browser, 10).until(lambda d: "redrive=" in d.current_url)
    assert "re-drive" in _body(browser)
    # The page reloads itself (meta refresh) until the task has finished again.
    WebDriverWait(browser, 90, poll_frequency=0.5).until(lambda d: _status(d) == "COMPLETED")
    took_s = time.monotonic() - started
    redrives = browser.find_element(By.XPATH, "//dt[.='Re-drives']/following-sibling::dd[1]")
    assert redrives.text == "1"
    runs = [
        r.find_elements(By.TAG_NAME, "td")[0].text
        for r in browser.find_elements(By.CSS_SELECTOR, "tr.attempt")
    ]
    assert runs.count("0") == 4 and runs.count("1") == 1, runs
    browser.save_screenshot(str(ARTIFACTS / "console-completed-task.png"))
    print(f"browser scenario took {took_s:.1f} s after the task failed")


def test_html_in_a_task_is_shown_as_text_and_never_runs(api, http, browser) -> None:
    marker = uuid.uuid4().hex
    task = submit(http, {"type": "echo", "payload": {**HOSTILE, "console": marker}})
    wait_for(http, [task["id"]], timeout_s=60)
    _sign_in(browser)
    pages = (
        f"{API}/ui/tasks?payload=console%3D{marker}",
        f"{API}/ui/tasks/{task['id']}",
    )
    for page in pages:
        browser.get(page)
        WebDriverWait(browser, 10).until(lambda d: marker in d.page_source)
        _no_alert(browser)
        assert browser.find_elements(By.TAG_NAME, "img") == [], page
        assert browser.find_elements(By.TAG_NAME, "textarea") == [], page
        scripts = browser.find_elements(By.TAG_NAME, "script")
        assert scripts == [], page
    text = _body(browser)
    for value in HOSTILE.values():
        assert value in text, value
    browser.save_screenshot(str(ARTIFACTS / "console-hostile-task.png"))
