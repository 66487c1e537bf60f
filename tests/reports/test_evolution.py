"""The test page's aggregates over time and over payload metrics, from crafted
jobs, on SQLite and on PostgreSQL (the metric query is written for each)."""
from __future__ import annotations

import pytest

from appliance import lifecycle
from appliance.db import database, open_database, upgrade
from appliance.models import Job
from appliance.reports import evolution
from appliance.states import TestState
from tests.factories import make_site, make_template

START = 1_000_000.0


def _test_with_jobs():
    sites = [make_site("alpha"), make_site("beta")]
    template = make_template("t", sites=sites)
    test = lifecycle.create_test(template, START, START + 160, "tester",
                                 state=TestState.RUNNING)
    rows = [  # site, submitted, started, ended, state, metrics
        (sites[0], 0, 10, 50, "completed", {"events": 10, "note": "text"}),
        (sites[0], 0, 20, 90, "completed", {"events": 30}),
        (sites[1], 0, 30, 40, "failed", None),
        (sites[1], 0, 100, None, "running", None),
        (sites[1], 0, None, None, "queued", None),
        (sites[1], 0, 5, 60, "completed", {"events": 5, "rate": 2.5}),
    ]
    for number, (site, submitted, started, ended, state, metrics) in enumerate(rows, 1):
        Job.create(test=test, site=site, attempt=number, state=state,
                   submitted_at=START + submitted,
                   started_at=None if started is None else START + started,
                   ended_at=None if ended is None else START + ended, metrics=metrics)
    return test


def _check(test):
    seconds, counts = evolution.states_over_time(test.id, START, START + 160, START + 160)
    assert len(seconds) == evolution.MOMENTS and seconds[-1] == 160
    at = {s: i for i, s in enumerate(seconds)}
    assert counts["running"][at[40]] == 3   # started at 5, 10 and 20; the one of 30 failed at 40
    assert counts["queued"][at[40]] == 2    # not yet started: the one of 100 s and the queued
    assert counts["failed"][at[40]] == 1 and counts["completed"][at[40]] == 0
    assert counts["completed"][at[160]] == 3 and counts["running"][at[160]] == 1
    means = evolution.metric_means(test.id)
    assert means == {"events": {"alpha": (20.0, 2), "beta": (5.0, 1)},
                     "rate": {"beta": (2.5, 1)}}, "text values are left out"
    assert evolution.states_over_time(test.id, START, START + 160, START - 5) == ([], {})


def test_sqlite(db):
    _check(_test_with_jobs())


@pytest.mark.postgres
def test_postgres(postgres_database):
    connection = open_database(postgres_database)
    upgrade()
    try:
        _check(_test_with_jobs())
    finally:
        connection.close()
        database.initialize(None)


def test_now_bounds_a_running_test(db):
    test = _test_with_jobs()
    seconds, _ = evolution.states_over_time(test.id, START, START + 160, START + 80)
    assert seconds[-1] == 80


def test_the_summary_keeps_the_plot_data_and_the_page_uses_it(db, settings):
    from playhouse.test_utils import count_queries

    from appliance.models import Test
    from appliance.reports import plotdata, summary
    from appliance.web import create_app

    test = _test_with_jobs()
    summary.refresh(test.id, START + 100)
    first = Test.get_by_id(test.id)
    assert first.plots_at == START + 100 and first.plot_data["metrics"]["events"]["alpha"][1] == 2
    summary.refresh(test.id, START + 110)
    assert Test.get_by_id(test.id).plots_at == START + 100, "not due again within the interval"
    summary.refresh(test.id, START + 115, final=True)
    ended = Test.get_by_id(test.id)
    assert ended.plots_at == START + 115
    assert plotdata.stored(ended, START + 10_000, final=True) == ended.plot_data
    assert plotdata.stored(ended, START + 10_000, final=False) is None, "stale while running"
    Test.update(state=TestState.COMPLETED.value).execute()
    client = create_app(settings).test_client()
    with count_queries() as counted:
        page = client.get(f"/tests/{test.id}").get_data(as_text=True)
    assert "Jobs by state over the test" in page and "events (mean per site)" in page
    sql = " ".join(str(q.msg) for q in counted.get_queries())
    assert "json_each" not in sql, "the stored plot data was used"
