"""The HTML report of `hc run`, opened in a real (headless) Chromium."""
from __future__ import annotations

import os

import pytest

from tests.conftest import ARTIFACTS
from tests.integration.test_run import hc_run

pytestmark = [pytest.mark.integration, pytest.mark.slow]
def test_report_renders_in_a_browser(browser, tmp_path):
    result = hc_run(tmp_path, "--wait", "--threshold", "site:ci-b:failed==0",
                    "--report", "report.html")
    assert result.returncode == 1
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"file://{tmp_path / 'report.html'}")
    assert "FAILED" in page.title()
    assert page.locator("svg").count() == 3
    assert page.locator("td.fail").first.inner_text() == "FAIL"
    box = page.locator("svg").first.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 150, "plots are drawn"
    assert all(url.startswith("file://") for url in requests), requests
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, "hc-run-report.png"), full_page=True)
    page.close()
