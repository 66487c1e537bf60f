"""How a test evolved, and what its payloads reported: aggregates for the test
page's plots, each one query over the test's jobs (indexed by test)."""
from __future__ import annotations

import peewee as pw

from appliance.db import database, is_postgres
from appliance.models import Job

MOMENTS = 16   # points of the jobs-by-state-over-time plot
MAX_METRICS = 6  # metric plots on one page

OVER_TIME_STATES = ("queued", "running", "completed", "failed")


def states_over_time(test_id: int, start: float, end: float, now: float
                     ) -> tuple[list[float], dict[str, list[int]]]:
    """At MOMENTS evenly spread from the start to min(now, end): how many jobs were
    queued, running, completed and failed. Returns (seconds since start, {state: counts})."""
    last = min(now, end)
    if last <= start:
        return [], {}
    width = (last - start) / MOMENTS
    moments = [start + (i + 1) * width for i in range(MOMENTS)]
    columns = []
    for t in moments:
        columns += [_count(_queued_at(t)), _count(_running_at(t)),
                    _count((Job.state == "completed") & (Job.ended_at <= t)),
                    _count(Job.state.in_(["failed", "lost"]) & (Job.ended_at <= t))]
    row = Job.select(*columns).where(Job.test == test_id).tuples().get()
    counts = {state: [int(row[i * 4 + k] or 0) for i in range(MOMENTS)]
              for k, state in enumerate(OVER_TIME_STATES)}
    return [t - start for t in moments], counts


def _count(condition) -> pw.Node:
    return pw.fn.SUM(pw.Case(None, [(condition, 1)], 0))


def _queued_at(t: float):
    not_started = Job.started_at.is_null() | (Job.started_at > t)
    not_ended = Job.ended_at.is_null() | (Job.ended_at > t)
    return (Job.submitted_at <= t) & not_started & not_ended


def _running_at(t: float):
    return (Job.started_at <= t) & (Job.ended_at.is_null() | (Job.ended_at > t))


_SQLITE_METRICS = """
SELECT s.name, m.key, AVG(m.value), COUNT(*)
FROM job j JOIN site s ON s.id = j.site_id, json_each(j.metrics) m
WHERE j.test_id = ? AND j.metrics IS NOT NULL AND m.type IN ('integer', 'real')
GROUP BY s.name, m.key ORDER BY m.key, s.name"""
_POSTGRES_METRICS = """
SELECT s.name, m.key, AVG((m.value #>> '{}')::float), COUNT(*)
FROM job j JOIN site s ON s.id = j.site_id, json_each(j.metrics::json) m
WHERE j.test_id = %s AND j.metrics IS NOT NULL AND json_typeof(m.value) = 'number'
GROUP BY s.name, m.key ORDER BY m.key, s.name"""


def metric_means(test_id: int) -> dict[str, dict[str, tuple[float, int]]]:
    """{metric: {site: (mean, jobs reporting it)}} of the numbers payloads wrote,
    for the first MAX_METRICS metric names."""
    sql = _POSTGRES_METRICS if is_postgres() else _SQLITE_METRICS
    means: dict[str, dict[str, tuple[float, int]]] = {}
    for site, key, mean, number in database.execute_sql(sql, (test_id,)).fetchall():
        if key not in means and len(means) >= MAX_METRICS:
            continue
        means.setdefault(key, {})[site] = (float(mean), int(number))
    return means
