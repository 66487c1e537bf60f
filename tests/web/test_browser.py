"""The pages in a real headless Chromium, with the agents and gunicorn running:
a stress test runs to completion, its page and a job's output are opened."""
from __future__ import annotations

import json
import os

import pytest

from appliance.models import Test
from tests.conftest import free_port
from tests.integration.harness import running_appliance, wait_for
from tests.integration.test_report_browser import ARTIFACTS, browser  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration


@pytest.fixture
def appliance(tmp_path):
    with running_appliance(str(tmp_path / "data"), HC_WEB_BIND=f"127.0.0.1:{free_port()}",
                           HC_WEB_WORKERS="1") as instance:
        yield instance


def test_follow_a_stress_test_in_the_browser(appliance, browser):  # noqa: F811
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
    assert page.locator("figure svg").count() == 3
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
