"""Per-test and per-test-site summaries, aggregated in SQL and stored on the rows.

Counts and efficiency come from appliance.reports.counts; wall-time percentiles
are over jobs that ended with a wall time.
"""
from __future__ import annotations

import math
import time

import numpy as np

from appliance.db import database
from appliance.models import Test, TestSite
from appliance.reports import jobscan, plotdata, queries
from appliance.reports.counts import add_efficiency, counts_by_site, counts_of_scan, empty_counts

PERCENTILES = {"wall_p50": 0.50, "wall_p90": 0.90, "wall_p95": 0.95}


def wall_percentiles_by_site(test_id: int, walls: dict[int, np.ndarray] | None = None
                             ) -> tuple[dict, dict[int, dict]]:
    """Nearest-rank percentiles of wall time: (the test's, {site id: the site's}), from
    the sorted wall times of queries.walls_by_site (read once for both)."""
    walls = queries.walls_by_site(test_id) if walls is None else walls
    every = np.sort(np.concatenate(list(walls.values()))) if walls else np.empty(0)
    return _nearest_rank(every), {site_id: _nearest_rank(values)
                                  for site_id, values in walls.items()}


def _nearest_rank(ordered: np.ndarray) -> dict:
    # The value at position ceil(f * n) (1-based) of n sorted wall times is the f-th percentile.
    if not len(ordered):
        return dict.fromkeys(PERCENTILES)
    n = len(ordered)
    return {column: float(ordered[min(n, max(1, math.ceil(fraction * n))) - 1])
            for column, fraction in PERCENTILES.items()}


def refresh(test_id: int, now: float | None = None, final: bool = False,
            keep: bool = False) -> dict:
    """Recompute and store the test's and its sites' summaries; return the test's.

    Counts are cheap and always recomputed. Wall-time percentiles and the plot data
    need every job of the test, so they follow only when due (plotdata.PLOT_INTERVAL);
    `final` (the test is ending) forces them. `keep`: keep the test's job rows read for
    them in this process for the next refresh (appliance/reports/jobscan.py; the
    server agent, which refreshes running tests, does).
    """
    now = time.time() if now is None else now
    test = Test.get_by_id(test_id)
    heavy = plotdata.due(test, now, final)
    overall, site_walls, plots = {}, {}, {}
    if heavy:
        scan = jobscan.read(test_id, keep=keep and not final)
        by_site = counts_of_scan(scan)
        walls = queries.walls_by_site(test_id, scan)
        overall, site_walls = wall_percentiles_by_site(test_id, walls)
        plots = {"plot_data": plotdata.compute(test, now, scan, walls), "plots_at": now}
    else:
        by_site = counts_by_site(test_id)
    total = empty_counts()
    # Read before the transaction: on SQLite a transaction that reads and then writes
    # fails at once ("database is locked") when another process wrote in between.
    test_sites = list(TestSite.select(TestSite.id, TestSite.site).where(TestSite.test == test_id))
    with database.atomic():
        for test_site in test_sites:
            counts = add_efficiency(by_site.get(test_site.site_id, empty_counts()))
            for column in total:
                total[column] += counts[column]
            walls = site_walls.get(test_site.site_id, dict.fromkeys(PERCENTILES)) \
                if heavy else {}
            TestSite.update(summarized_at=now, **counts, **walls).where(
                TestSite.id == test_site.id).execute()
        values = add_efficiency(total) | overall
        Test.update(summarized_at=now, **values, **plots).where(Test.id == test_id).execute()
    return values | {k: getattr(test, k) for k in PERCENTILES if k not in values}
