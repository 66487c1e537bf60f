"""The comparison's, the phases' and the worker nodes' SQL on PostgreSQL too."""
from __future__ import annotations

import pytest

from appliance import phases, workers
from appliance.compare import engine, ranking, samplestore, sides
from appliance.db import database, open_database, upgrade
from appliance.models import Job, Test, TestSamples
from tests.compare.jobs import finished_test
from tests.factories import make_site, make_template

pytestmark = pytest.mark.postgres


@pytest.fixture
def postgres(postgres_database):
    connection = open_database(postgres_database)
    upgrade()
    yield connection
    connection.close()
    database.initialize(None)


def test_compare_phases_workers_and_rankings_on_postgres(postgres):
    sites = [make_site("pg-a"), make_site("pg-b")]
    template = make_template("pg", sites=sites)
    each = {"pg-a": 60, "pg-b": 60}
    a = finished_test(template, 1.8e9, each, seed=1, metrics=1)
    b = finished_test(template, 1.8e9 + 7200, each, seed=2, metrics=1, wall={"pg-b": 150.0})
    Job.update(metrics={"phase:exec": 5.0, "m0": 1.0}, worker={"host": "n1", "cores": 4}).where(
        Job.test == b.id).execute()
    settled = 1.8e9 + 86400  # long after both tests ended: their jobs can no longer change
    result = engine.compare(f"test:{a.id}", f"test:{b.id}", now=settled)
    assert {(r["site"], r["figure"]) for r in result["rows"] if r["verdict"] == "worse"} >= {
        ("pg-b", "wall")}
    assert engine.compare(f"test:{a.id}", f"test:{b.id}", now=settled)["cached"]
    # The samples were kept (a blob, upserted) and read back as they went in.
    assert TestSamples.select().count() == 2
    samplestore.put(b.id, samplestore.get(b.id), settled)
    again = engine.compare(f"test:{b.id}", "", site="pg-b", now=settled)
    assert again["rows"] == engine.compare(f"test:{b.id}", "", site="pg-b")["rows"]
    window = engine.compare("template:pg@2027-01-15T08:00..2027-01-15T09:30",
                            "template:pg@2027-01-15T10:00..2027-01-15T11:30")
    assert window["a"]["jobs"] == window["b"]["jobs"] == 120
    assert phases.of_test(b.id)["pg-a"]["exec"] == 5.0
    assert [n["host"] for n in workers.nodes(b.id)] == ["n1", "n1"]
    ranked = ranking.rank(sides.parse(f"test:{b.id}"), "m0", True, {})
    assert ranked["sites"][0]["median"] == 0.25
    assert Test.select().count() == 2
