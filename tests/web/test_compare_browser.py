"""The compare page and a site's evolution and time breakdown in a real headless Chromium (gunicorn
serving a database of finished tests); screenshots are kept in artifacts/."""
from __future__ import annotations

import os
import time

import pytest

from appliance import rollups
from appliance.models import Job
from tests.compare.jobs import finished_test
from tests.conftest import ARTIFACTS
from tests.factories import make_site, make_template
from tests.integration.harness import wait_for
from tests.web.test_browser import _loads, appliance  # noqa: F401, F811 (a fixture)

pytestmark = [pytest.mark.integration]


def test_the_compare_page_in_a_browser(appliance, browser):  # noqa: F811
    sites = [make_site(name) for name in ("CERN-PROD", "BNL", "RAL")]
    template = make_template("release", sites=sites)
    each = {s.name: 200 for s in sites}
    start = time.time() - 2 * 86400  # within the days the site page shows
    a = finished_test(template, start, each, seed=1, metrics=2)
    b = finished_test(template, start + 7200, each, seed=2, metrics=2, wall={"BNL": 130.0})
    rollups.add_finished([j for (j,) in Job.select(Job.id).tuples()])
    appliance.start("web", "web")
    url = "http://" + appliance.environ["HC_WEB_BIND"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    wait_for(lambda: _loads(page, url + "/healthz"), 30, what="the web UI")
    page.goto(url + "/compare")
    page.fill("input[name=a]", f"test:{a.id}")
    page.fill("input[name=b]", f"test:{b.id}")
    page.click("button:text('Compare')")
    rows = page.locator("#compare-rows tbody tr")
    assert rows.count() == 3 * 7  # efficiency, wall, cpu, cpu efficiency, queue, 2 metrics
    worse = page.locator("#compare-rows tr.verdict-worse td:first-child").all_inner_texts()
    assert set(worse) == {"BNL"}
    assert page.locator("#compare-rows svg").count() == 3 * 6  # a box plot per distribution
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, "compare-page.png"), full_page=True)
    page.goto(url + f"/compare?a=test:{a.id}&b=test:99999")
    assert "there is no test 99999" in page.locator("#compare-error").inner_text()
    page.goto(url + "/sites/BNL?days=365")
    assert page.locator("#breakdown").count() == 1
    assert page.locator("figure.evolution svg").count() == 3 + 2  # wall, CPU, queue, metrics
    page.screenshot(path=os.path.join(ARTIFACTS, "site-breakdown.png"), full_page=True)
    page.close()

