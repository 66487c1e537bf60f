"""A benchmark campaign's ranking: per site, per core, with uncertain places marked."""
from __future__ import annotations

import numpy as np
import pytest

from appliance import lifecycle
from appliance.compare import ranking, sides
from appliance.errors import BadInput
from appliance.models import Job
from appliance.states import TestState
from appliance.web import create_app
from tests.factories import make_site, make_template


@pytest.fixture
def campaign(db):
    """Four sites: fast (clearly first), two alike, slow; the score is per job of 8 cores
    (reported by the payload at one site, by the worker record at the others)."""
    names = {"fast": 300.0, "alike-1": 200.0, "alike-2": 201.0, "slow": 100.0}
    sites = {name: make_site(name) for name in names}
    test = lifecycle.create_test(make_template("hepscore", sites=list(sites.values()),
                                               golden=True), 1.8e9, 1.8e9 + 3600, owner="t",
                                 state=TestState.COMPLETED)
    rng = np.random.default_rng(3)
    for name, score in names.items():
        for i in range(40):
            metrics = {"score": float(score * 8 * np.exp(rng.normal(0, 0.05)))}
            worker = {"host": f"{name}-n{i % 4}", "cores": 8}
            if name == "fast":
                metrics["cores"], worker = 8, None
            Job.insert(test=test.id, site=sites[name].id, attempt=i + 1, state="completed",
                       metrics=metrics, worker=worker).execute()
    return test


def test_sites_ranked_per_core_with_uncertain_places_marked(campaign):
    result = ranking.rank(sides.parse(f"test:{campaign.id}"), "score", True, {})
    order = [(r["site"], r["uncertain"]) for r in result["sites"]]
    assert order[0] == ("fast", False) and order[-1] == ("slow", False)
    assert {site for site, uncertain in order if uncertain} == {"alike-1", "alike-2"}
    first = result["sites"][0]
    assert first["median"] == pytest.approx(300, rel=0.05) and first["n"] == 40
    assert first["ci"][0] < first["median"] < first["ci"][1]
    whole = ranking.rank(sides.parse(f"test:{campaign.id}"), "score", False, {})
    assert whole["sites"][0]["median"] == pytest.approx(2400, rel=0.05)
    with pytest.raises(BadInput, match="reported 'nothing'"):
        ranking.rank(sides.parse(f"test:{campaign.id}"), "nothing", False, {})


def test_the_rankings_page(campaign, settings):
    client = create_app(settings).test_client()
    page = client.get(f"/rankings?side=test:{campaign.id}&metric=score&per_core=1")
    assert page.status_code == 200 and page.data.count(b"class=\"warn\">uncertain<") == 2
    assert client.get("/rankings?side=test:999&metric=score").status_code == 400
    assert client.get(f"/rankings?side=test:{campaign.id}").status_code == 400
    assert client.get("/rankings").status_code == 200
