"""The data behind a test page's plots, computed with its summary.

A 100,000-job test costs several passes over its jobs to plot; doing that with
the summary (server agent, at most every PLOT_INTERVAL, and once more when the
test ends) instead of on every page view keeps its page fast. The page computes
the data itself only when none is stored (or it is stale).
"""
from __future__ import annotations

import time

from appliance import phases
from appliance.models import Test
from appliance.reports import evolution, jobscan, queries

PLOT_INTERVAL = 30.0  # s: how often a running test's plot data is recomputed
STALE_AFTER = 90.0    # s: older stored data of a running test is not shown


def compute(test: Test, now: float | None = None, scan: jobscan.Scan | None = None,
            walls: dict | None = None) -> dict:
    """Plain data for every plot of the test page (JSON-ready), from one read of its
    jobs (`scan`, and `walls` as queries.walls_by_site makes them of it, when the
    caller has them already)."""
    now = time.time() if now is None else now
    scan = jobscan.read(test.id) if scan is None else scan
    moments, over_time = evolution.states_over_time(test.id, test.start_at, test.end_at, now,
                                                    scan)
    averages = evolution.metric_averages(test.id, scan)  # for the metrics and the phases
    return {
        "over_time": {"seconds": moments, "counts": over_time},
        "wall": queries.wall_buckets(test.id, walls=queries.walls_by_site(test.id, scan)
                                     if walls is None else walls),
        "efficiency": queries.efficiency_over_time(test.id, test.start_at, test.end_at, scan),
        "metrics": evolution.metric_means(test.id, averages),
        "breakdown": phases.of_test(test.id, averages, scan),
    }


def due(test: Test, now: float, final: bool) -> bool:
    """Whether a summary refresh at `now` should recompute the plot data."""
    return final or test.plots_at is None or now - test.plots_at >= PLOT_INTERVAL


def stored(test: Test, now: float, final: bool) -> dict | None:
    """The stored plot data if it still describes the test, else None."""
    if test.plot_data is None or test.plots_at is None:
        return None
    if final:  # computed by the refresh that ended the test, or later
        return test.plot_data if test.plots_at >= (test.summarized_at or 0) else None
    return test.plot_data if now - test.plots_at < STALE_AFTER else None
