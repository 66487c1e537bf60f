"""Where the time goes: phases in the metrics file, the queue from the backend, the
breakdowns of a test (job rows) and of a site (rollups), on the pages."""
from __future__ import annotations

import json

import pytest

from appliance import lifecycle, phases, rollups
from appliance.models import Job, Site
from appliance.payload import PayloadError, clean_metrics, read_metrics
from appliance.states import TestState
from appliance.web import create_app
from tests.factories import make_site, make_template

NOW = 1.8e9


def test_phases_are_bounded_durations(tmp_path):
    assert clean_metrics({"phase:exec": 4.5, "events": 3}) == {"phase:exec": 4.5, "events": 3}
    for bad in (-1, 31 * 86400):
        with pytest.raises(PayloadError, match="phase 'phase:exec' must be from 0"):
            clean_metrics({"phase:exec": bad})
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"phase:stagein": -3}))
    numbers, problem = read_metrics(str(path))
    assert numbers is None and "must be from 0" in problem


def test_phases_in_the_order_a_job_goes_through_them():
    assert phases.order(["stageout", "zeta", "exec", "stagein", "alpha"]) == [
        "stagein", "exec", "stageout", "alpha", "zeta"]
    job = Job(submitted_at=10.0, started_at=14.0,
              metrics={"phase:exec": 30, "phase:stagein": 2, "events": 9})
    assert phases.of_job(job) == [("queue", 4.0), ("stagein", 2), ("exec", 30)]
    assert phases.of_job(Job(metrics=None)) == []


@pytest.fixture
def test_with_phases(db):
    sites = [make_site("p1"), make_site("p2")]
    template = make_template("phased", sites=sites)
    test = lifecycle.create_test(template, NOW, NOW + 600, owner="t", state=TestState.RUNNING)
    ids = []
    for site, stagein in ((sites[0], 2.0), (sites[1], 8.0)):
        for i in range(4):
            ids.append(Job.insert(test=test.id, site=site.id, attempt=i + 1, state="completed",
                                  submitted_at=NOW, started_at=NOW + 5 + i, ended_at=NOW + 60,
                                  wall_seconds=55, cpu_seconds=40,
                                  metrics={"phase:stagein": stagein, "phase:exec": 40.0,
                                           "rate": 1}).execute())
    rollups.add_finished(ids)
    return test


def test_a_tests_breakdown_per_site(test_with_phases):
    parts = phases.of_test(test_with_phases.id)
    assert parts == {"p1": {"queue": 6.5, "stagein": 2.0, "exec": 40.0},
                     "p2": {"queue": 6.5, "stagein": 8.0, "exec": 40.0}}


def test_a_sites_breakdown_per_template_from_the_rollups(test_with_phases):
    site = Site.get(Site.name == "p2")
    day = rollups.day_of(NOW)
    assert phases.of_site(site.id, day, day + 86400) == {
        "phased": {"queue": 6.5, "stagein": 8.0, "exec": 40.0}}
    assert phases.of_site(site.id, day + 86400, day + 2 * 86400) == {}


def test_the_pages_show_the_breakdown(test_with_phases, settings, monkeypatch):
    monkeypatch.setattr("time.time", lambda: NOW + 120)
    client = create_app(settings).test_client()
    page = client.get(f"/tests/{test_with_phases.id}").data.decode()
    assert "Where the time goes" in page
    assert "queue 6 · stagein 8 · exec 40" in page
    site_page = client.get("/sites/p2?days=7").data.decode()
    assert "Where the time goes" in site_page and 'id="breakdown"' in site_page
