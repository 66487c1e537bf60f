"""A site's evolution for one template, from the daily rollups: the figures per day,
the page's plots and the CSV beside them."""
from __future__ import annotations

import time

import pytest

from appliance import lifecycle, rollups
from appliance.errors import BadInput
from appliance.models import Job, Site, Template
from appliance.reports import site_evolution
from appliance.states import TestState
from appliance.web import create_app
from tests.factories import make_site, make_template

TODAY = int(time.time()) // 86400 * 86400


@pytest.fixture
def history(db):
    site = make_site("evo")
    golden = make_template("golden-one", sites=[site], golden=True)
    other = make_template("another", sites=[site])
    for template, wall in ((golden, 100.0), (other, 50.0)):
        test = lifecycle.create_test(template, TODAY - 3 * 86400, TODAY - 2 * 86400, owner="t",
                                     state=TestState.RUNNING)
        ids = []
        for back, walls in ((2, [wall] * 4), (1, [wall * 2] * 3 + [None])):
            for i, w in enumerate(walls):
                ended = TODAY - back * 86400 + 3600 + i
                ids.append(Job.insert(
                    test=test.id, site=site.id, attempt=len(ids) + 1,
                    state="completed" if w else "failed", submitted_at=ended - 500,
                    started_at=ended - 490 if w else None, ended_at=ended, wall_seconds=w,
                    cpu_seconds=w and w / 2, metrics={"events_per_s": 10.0 * back}).execute())
        rollups.add_finished(ids)
    return site


def test_one_day_per_point_from_the_rollups(history):
    golden = Template.get(Template.name == "golden-one")
    assert [t.name for t in site_evolution.templates_at(history.id)] == ["golden-one",
                                                                        "another"]
    data = site_evolution.evolution(history, golden, 7)
    assert len(data["days"]) == 7 and data["days"][-1]["at"] == TODAY
    two_ago, one_ago = data["days"][-3], data["days"][-2]
    assert two_ago["jobs"] == 4 and two_ago["efficiency"] == 1.0
    # Interpolated in the histogram bucket 60-120 s (capped at the largest, 100 s).
    assert 60 <= two_ago["wall_p50"] <= 100 and two_ago["cpu_efficiency"] == 0.5
    assert two_ago["queue"] == 10.0
    # Each job's CPU efficiency is 0.5 and its queue 10 s: their histograms' buckets.
    assert 0.5 <= two_ago["cpu_efficiency_p50"] <= two_ago["cpu_efficiency_p90"] <= 0.6
    assert 10 <= two_ago["queue_p50"] <= two_ago["queue_p90"] <= 30
    assert one_ago["cpu_efficiency_p50"] is not None and one_ago["queue_p90"] is not None
    assert one_ago["jobs"] == 4 and one_ago["efficiency"] == 0.75
    assert one_ago["wall_p50"] > two_ago["wall_p50"]
    means = [v["mean"] for v in data["metrics"]["events_per_s"]]
    assert means == [20.0, 10.0]
    # The metric's median and p90 from its histogram, within the day's min and max.
    assert [(v["p50"], v["p90"]) for v in data["metrics"]["events_per_s"]] == [(20.0, 20.0),
                                                                                (10.0, 10.0)]
    assert data["days"][0]["jobs"] == 0 and data["days"][0]["wall_p50"] is None
    with pytest.raises(BadInput):
        site_evolution.evolution(history, golden, 366)


def test_the_site_page_plots_and_the_csv(history, settings):
    client = create_app(settings).test_client()
    page = client.get("/sites/evo?days=30").data.decode()
    assert "Evolution of golden-one (golden) at evo, 30 days" in page
    assert page.count('<figure class="evolution">') == 4  # wall, CPU, queue, one metric
    assert "seconds" in page and "day (UTC)" in page
    other = client.get("/sites/evo?days=30&template=another").data.decode()
    assert "Evolution of another at evo" in other
    csv = client.get("/sites/evo/evolution.csv?template=golden-one&days=7").data.decode()
    lines = csv.splitlines()
    assert lines[0].startswith("day,wall_p50,wall_p90,cpu_efficiency,queue,efficiency,jobs,"
                               "cpu_efficiency_p50,cpu_efficiency_p90,queue_p50,queue_p90")
    assert len(lines) == 8
    assert lines[0].endswith(",events_per_s mean,events_per_s p50,events_per_s p90")
    assert client.get("/sites/evo/evolution.csv?template=nope").status_code == 404
    assert client.get("/sites/evo/evolution.csv?template=golden-one&days=0").status_code == 400
    assert Site.select().count() == 1
