"""The pages in a real headless Chromium, with the agents and gunicorn running:
a stress test runs to completion, its page and a job's output are opened."""
from __future__ import annotations

import json
import os

import pytest

from appliance.models import Test
from tests.conftest import ARTIFACTS, free_port
from tests.integration.harness import running_appliance, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def appliance(tmp_path):
    with running_appliance(str(tmp_path / "data"), HC_WEB_BIND=f"127.0.0.1:{free_port()}",
                           HC_WEB_WORKERS="1") as instance:
        yield instance


def test_follow_a_stress_test_in_the_browser(appliance, browser):
    for site in ("site-a", "site-b"):
        appliance.hc("site", "add", site, "--backend", "local")
    template = {"name": "stress", "duration": "6s", "sites": ["site-a", "site-b"],
                "description": "<b>not bold</b>", "load": {"max_running": 2},
                "job": {"command": "echo hello from $HC_SITE; sleep 0.5"}}
    appliance.hc("template", "add", "-", stdin=json.dumps(template))
    for role in ("server", "submit", "web"):
        appliance.start(role, role)
    url = "http://" + appliance.environ["HC_WEB_BIND"]
    appliance.hc("test", "create", "stress", "--approve")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    wait_for(lambda: _loads(page, url + "/healthz"), 20, what="the web UI")
    wait_for(lambda: Test.get().state == "running", 20, what="running")
    page.goto(url + "/")
    assert page.locator("text=Stress tests in progress").count() == 1
    page.locator(f"a[href='/tests/{Test.get().id}']").first.click()
    assert page.url.endswith(f"/tests/{Test.get().id}")
    wait_for(lambda: Test.get().state == "completed", 30, what="completed")
    page.reload()
    assert page.locator("h1 .state-completed").inner_text() == "completed"
    # states: per site, over time; wall; efficiency; where the time goes (queue only here)
    assert page.locator("figure svg").count() == 5
    assert "<b>not bold</b>" not in page.content().replace("&lt;b&gt;", "")
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, "test-page.png"), full_page=True)
    page.locator("td.state-completed").first.locator("xpath=..").locator("a").first.click()
    page.click("text=stdout")
    assert "hello from site-" in page.locator("pre.log").inner_text()
    page.screenshot(path=os.path.join(ARTIFACTS, "job-stdout.png"))
    page.close()


def _loads(page, url: str) -> bool:
    try:
        return page.goto(url).status == 200
    except Exception:  # not listening yet
        return False


def test_log_in_create_in_three_clicks_approve_and_read_a_log(appliance, browser):
    """A user makes a stress test in three clicks, an admin approves it in the
    browser, the real agents run it, and the user opens a job's stdout."""
    for site in ("site-a", "site-b"):
        appliance.hc("site", "add", site, "--backend", "local")
    template = {"name": "stress-click", "duration": "8s", "sites": ["site-a", "site-b"],
                "load": {"max_running": 2}, "job": {"command": "echo ran on $HC_SITE"}}
    appliance.hc("template", "add", "-", stdin=json.dumps(template))
    appliance.hc("user", "add", "alice", "--password-stdin", stdin="alice-password\n")
    appliance.hc("user", "add", "root", "--role", "admin", "--password-stdin",
                 stdin="root-password\n")
    for role in ("server", "submit", "web"):
        appliance.start(role, role)
    url = "http://" + appliance.environ["HC_WEB_BIND"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    wait_for(lambda: _loads(page, url + "/healthz"), 20, what="the web UI")
    _log_in(page, url, "alice", "alice-password")
    page.click("text=New stress test")
    page.click("a.choose:text('stress-click')")                      # click 1
    assert page.locator("input[name=sites][value=site-a]").is_checked()  # click 2: defaults
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, "create-form.png"), full_page=True)
    _click_and_load(page, "button:text('Submit for approval')")      # click 3
    test = wait_for(lambda: Test.get_or_none(Test.state == "unapproved"), 10, what="a test")
    assert page.url.endswith(f"/tests/{test.id}") and test.owner == "alice"
    assert page.locator("h1 .state-unapproved").count() == 1
    _click_and_load(page, "form.inline button:text('log out')")
    _log_in(page, url, "root", "root-password")
    page.goto(url + "/approvals")
    page.click(f"form[action='/tests/{test.id}/approve'] button")
    wait_for(lambda: Test.get_by_id(test.id).state == "completed", 40, what="completed")
    page.goto(f"{url}/tests/{test.id}")
    assert page.locator("h1 .state-completed").inner_text() == "completed"
    log = page.locator("text=approved by root").count()
    assert log >= 1, "the approval is in the test log"
    page.locator("td.state-completed").first.locator("xpath=..").locator("a").first.click()
    page.click("text=stdout")
    assert "ran on site-" in page.locator("pre.log").inner_text()
    page.screenshot(path=os.path.join(ARTIFACTS, "job-log-after-approval.png"))
    page.close()


def _log_in(page, url: str, name: str, password: str) -> None:
    page.goto(url + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    _click_and_load(page, "button:text('log in')")
    assert page.locator(f"header >> text={name}").count() == 1, \
        f"{name} is logged in: {page.url} shows {page.locator('header').inner_text()!r}"


def _click_and_load(page, selector: str) -> None:
    """Click what submits a form and wait until the next page has loaded: a bare
    click returns once the navigation starts, and reading the page then races it
    (CI saw the header of a half-loaded front page without the user in it)."""
    with page.expect_navigation(wait_until="load", timeout=20_000):
        page.click(selector)
