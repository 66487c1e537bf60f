"""How a test evolved, and what its payloads reported: aggregates for the test
page's plots, counted over the test's jobs as appliance/reports/jobscan.py reads them."""
from __future__ import annotations

import numpy as np

from appliance.models import Site
from appliance.reports import jobscan
from appliance.states import JobState

MOMENTS = 16   # points of the jobs-by-state-over-time plot
MAX_METRICS = 6  # metric plots on one page

OVER_TIME_STATES = ("queued", "running", "completed", "failed")


def states_over_time(test_id: int, start: float, end: float, now: float,
                     scan: jobscan.Scan | None = None
                     ) -> tuple[list[float], dict[str, list[int]]]:
    """At MOMENTS evenly spread from the start to min(now, end): how many jobs were
    queued, running, completed and failed (lost counts as failed, killed as neither).
    Returns (seconds since start, {state: counts}); `scan`: the test's jobs
    (appliance/reports/jobscan.py), when read already.

    A time t is at or before moment i (0-based) exactly when ceil((t - start) / width) - 1
    is at most i: each job's submission, start and end are turned into those indexes once.
    """
    last = min(now, end)
    if last <= start:
        return [], {}
    scan = jobscan.read(test_id) if scan is None else scan
    width = (last - start) / MOMENTS
    submitted, started, ended = (np.ceil((scan.column(c) - start) / width) - 1
                                 for c in (jobscan.SUBMITTED, jobscan.STARTED, jobscan.ENDED))
    states = scan.states()
    completed = states == jobscan.CODE[JobState.COMPLETED]
    failed = (states == jobscan.CODE[JobState.FAILED]) | (states == jobscan.CODE[JobState.LOST])
    counts: dict[str, list[int]] = {state: [] for state in OVER_TIME_STATES}
    for moment in range(MOMENTS):  # NaN (no such time) is never at or before a moment
        done = ended <= moment
        running = ~done & (started <= moment)
        queued = ~done & ~running & (submitted <= moment)
        for state, which in (("queued", queued), ("running", running),
                             ("completed", done & completed), ("failed", done & failed)):
            counts[state].append(int(np.count_nonzero(which)))
    return [(i + 1) * width for i in range(MOMENTS)], counts


Averages = list[tuple[int, str, float, int]]


def metric_averages(test_id: int, scan: jobscan.Scan | None = None) -> Averages:
    """[(site id, name, mean, jobs reporting it)] of every number the test's payloads
    wrote, phases included: what the metric plots and the time breakdown
    (appliance/phases.py) share, from the metric sums of the test's scan."""
    scan = jobscan.read(test_id) if scan is None else scan
    return [(site_id, key, total / number, number)
            for (site_id, key), (total, number) in sorted(scan.metric_sums.items()) if number]


def metric_means(test_id: int, averages: Averages | None = None
                 ) -> dict[str, dict[str, tuple[float, int]]]:
    """{metric: {site: (mean, jobs reporting it)}} of the numbers payloads wrote,
    for the first MAX_METRICS metric names (in name order)."""
    averages = metric_averages(test_id) if averages is None else averages
    names = dict(Site.select(Site.id, Site.name).tuples())
    means: dict[str, dict[str, tuple[float, int]]] = {}
    for key, site, mean, number in sorted((key, names[site_id], mean, number)
                                          for site_id, key, mean, number in averages):
        if key not in means and len(means) >= MAX_METRICS:
            continue
        means.setdefault(key, {})[site] = (mean, number)
    return means
