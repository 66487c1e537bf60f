"""Retention with the real agents: functional tests run, then `hc retention` with
tiny ages removes their job rows and packs their folders while a stress test
keeps running, and the robot and the site history show the same numbers."""
from __future__ import annotations

import json
import os

import pytest

from appliance import archives, config, workarea
from appliance.models import Job, Template, Test
from appliance.states import TEST_FINAL, TestState
from appliance.web import create_app
from tests.integration.harness import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _template(appliance, document: dict) -> None:
    appliance.hc("template", "add", "-", stdin=json.dumps(document))


def _pages(appliance) -> tuple:
    settings = config.load({"HC_DATA_DIR": appliance.data_dir, "HC_HOSTNAME": "pages"})
    client = create_app(settings).test_client()
    robot = client.get("/api/v1/robot?days=7").get_json()
    history = client.get("/api/v1/sites/site-1/history?days=7").get_json()
    return robot, history


@pytest.mark.parametrize("appliance", ["sqlite"], indirect=True)
def test_retention_under_running_agents_keeps_the_history(appliance):
    for name in ("site-1", "site-2"):
        appliance.hc("site", "add", name, "--backend", "local")
    _template(appliance, {"name": "ping", "category": "functional", "duration": "2s",
                          "sites": ["site-1", "site-2"], "load": {"max_running": 1},
                          "job": {"command": "echo ping", "timeout": "1m"}})
    _template(appliance, {"name": "load", "duration": "2m", "sites": ["site-1"],
                          "load": {"max_running": 2},
                          "job": {"command": "sleep 0.3", "timeout": "1m"}})
    appliance.start("server", "server")
    appliance.start("submit-a", "submit")
    appliance.hc("test", "create", "load", "--duration", "2m", "--approve")
    stress = Test.get(Test.category == "stress").id
    wait_for(lambda: Test.select().where(Test.category == "functional",
                                         Test.state == TestState.COMPLETED.value).count() >= 3,
             40, what="three functional tests completed")
    Template.update(active=False).where(Template.name == "ping").execute()
    final = [s.value for s in TEST_FINAL]
    wait_for(lambda: not Test.select().where(Test.category == "functional",
                                             Test.state.not_in(final)).exists(),
             20, what="the last functional test ended")
    functional = [t.id for t in Test.select().where(Test.category == "functional")]
    before = _pages(appliance)
    ran = sum(c["completed"] + c["failed"] for row in before[0]["sites"] for c in row["cells"])
    assert ran == Job.select().join(Test).where(
        Test.category == "functional", Job.state.in_(["completed", "failed"])).count() > 0
    stress_jobs = Job.select().where(Job.test == stress).count()

    appliance.environ.update(HC_RETAIN_JOB_ROWS="1ms", HC_RETAIN_WORK_AREAS="1ms")
    shown = appliance.hc("retention", "--dry-run").stdout
    assert "would remove" in shown and f"of {len(functional)} tests" in shown
    done = appliance.hc("retention").stdout
    assert f"work areas packed into archives: {len(functional)}" in done, done

    assert Job.select().where(Job.test.in_(functional)).count() == 0
    for test_id in functional:
        assert not os.path.isdir(workarea.test_dir(appliance.work_dir, test_id))
        assert os.path.exists(archives.path(appliance.work_dir, test_id))
    assert _pages(appliance) == before  # the rollups carry the history
    # The stress test was left alone and goes on.
    assert Test.get_by_id(stress).state == TestState.RUNNING.value
    assert os.path.isdir(workarea.test_dir(appliance.work_dir, stress))
    wait_for(lambda: Job.select().where(Job.test == stress).count() > stress_jobs + 2, 20,
             what="the stress test still making jobs")
