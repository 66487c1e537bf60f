"""Summaries: counts per site and nearest-rank wall-time percentiles from window
queries, checked against a plain computation, on SQLite and PostgreSQL."""
from __future__ import annotations

import math
import random

import pytest

from appliance import lifecycle
from appliance.db import database, open_database, upgrade
from appliance.models import Job, Test, TestSite
from appliance.reports import summary
from appliance.states import TestState
from tests.factories import make_site, make_template


def _nearest_rank(walls: list[float]) -> dict:
    walls = sorted(walls)
    if not walls:
        return dict.fromkeys(summary.PERCENTILES)
    return {column: walls[min(len(walls), max(1, math.ceil(f * len(walls)))) - 1]
            for column, f in summary.PERCENTILES.items()}


def _check():
    draw = random.Random(7)
    sites = [make_site(f"s{n}") for n in range(4)]
    test = lifecycle.create_test(make_template("t", sites=sites), 0, 100, "tester",
                                 state=TestState.RUNNING)
    sizes = {sites[0]: 1, sites[1]: 2, sites[2]: 37, sites[3]: 0}
    walls: dict[int, list[float]] = {}
    for site, size in sizes.items():
        for attempt in range(size):
            wall = round(draw.uniform(1, 500), 1) if attempt % 5 else 42.0  # ties too
            walls.setdefault(site.id, []).append(wall)
            Job.create(test=test, site=site, attempt=attempt, state="completed",
                       wall_seconds=wall, ended_at=50)
        Job.create(test=test, site=site, attempt=99, state="running")  # no wall time yet
    values = summary.refresh(test.id)
    every = [w for site_walls in walls.values() for w in site_walls]
    assert {k: values[k] for k in summary.PERCENTILES} == _nearest_rank(every)
    for row in TestSite.select().where(TestSite.test == test.id):
        assert {k: getattr(row, k) for k in summary.PERCENTILES} == \
            _nearest_rank(walls.get(row.site_id, [])), row.site_id
        assert row.jobs_total == sizes[row.site] + 1
    assert Test.get_by_id(test.id).jobs_running == 4


def test_sqlite(db):
    _check()


@pytest.mark.postgres
def test_postgres(postgres_database):
    connection = open_database(postgres_database)
    upgrade()
    try:
        _check()
    finally:
        connection.close()
        database.initialize(None)
