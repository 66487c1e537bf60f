"""How a test evolved, and what its payloads reported: aggregates for the test
page's plots, each one query over the test's jobs (indexed by test)."""
from __future__ import annotations

import peewee as pw

from appliance.db import database, is_postgres
from appliance.models import Job, Site

MOMENTS = 16   # points of the jobs-by-state-over-time plot
MAX_METRICS = 6  # metric plots on one page

OVER_TIME_STATES = ("queued", "running", "completed", "failed")


def states_over_time(test_id: int, start: float, end: float, now: float
                     ) -> tuple[list[float], dict[str, list[int]]]:
    """At MOMENTS evenly spread from the start to min(now, end): how many jobs were
    queued, running, completed and failed. Returns (seconds since start, {state: counts}).

    One pass over the test's jobs: they are grouped by state and by the moment from
    which they had been submitted, started and ended; the groups (a few hundred)
    are then added up per moment.
    """
    last = min(now, end)
    if last <= start:
        return [], {}
    width = (last - start) / MOMENTS
    columns = [_first_moment(c, start, width) for c in (Job.submitted_at, Job.started_at,
                                                         Job.ended_at)]
    rows = (Job.select(Job.state, *columns, pw.fn.COUNT(Job.id)).where(Job.test == test_id)
            .group_by(Job.state, *columns).tuples())
    counts = {state: [0] * MOMENTS for state in OVER_TIME_STATES}
    for state, submitted, started, ended, number in rows:
        for moment in range(MOMENTS):
            kind = _state_at(moment, state, submitted, started, ended)
            if kind:
                counts[kind][moment] += number
    return [(i + 1) * width for i in range(MOMENTS)], counts


def _first_moment(column, start: float, width: float) -> pw.Node:
    """The index of the first moment at or after the column's time (NULL stays NULL):
    a time t is at or before moment i exactly when this index is at most i."""
    return pw.fn.CEIL((column - start) / width) - 1


def _state_at(moment: int, state: str, submitted, started, ended) -> str | None:
    if ended is not None and ended <= moment:
        return {"completed": "completed", "failed": "failed", "lost": "failed"}.get(state)
    if started is not None and started <= moment:
        return "running"
    if submitted is not None and submitted <= moment:
        return "queued"
    return None


_SQLITE_METRICS = """
SELECT j.site_id, m.key, AVG(m.value), COUNT(*)
FROM job j, json_each(j.metrics) m
WHERE j.test_id = ? AND j.metrics IS NOT NULL AND m.type IN ('integer', 'real')
GROUP BY j.site_id, m.key"""
_POSTGRES_METRICS = """
SELECT j.site_id, m.key, AVG((m.value #>> '{}')::float), COUNT(*)
FROM job j, json_each(j.metrics::json) m
WHERE j.test_id = %s AND j.metrics IS NOT NULL AND json_typeof(m.value) = 'number'
GROUP BY j.site_id, m.key"""

Averages = list[tuple[int, str, float, int]]


def metric_averages(test_id: int) -> Averages:
    """[(site id, name, mean, jobs reporting it)] of every number the test's payloads
    wrote, phases included: the one pass over its metrics (JSON in every job row) that
    the metric plots and the time breakdown (appliance/phases.py) share."""
    sql = _POSTGRES_METRICS if is_postgres() else _SQLITE_METRICS
    return [(site_id, key, float(mean), int(number)) for site_id, key, mean, number
            in database.execute_sql(sql, (test_id,)).fetchall()]


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
