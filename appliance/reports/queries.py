"""Aggregates for the pages, computed by the database (one query each, not per row)."""
from __future__ import annotations

import math

import peewee as pw

from appliance.db import database
from appliance.models import Job, Site, Test, TestSite
from appliance.reports.counts import add_efficiency, counts_by_site, empty_counts
from appliance.states import JobState

SLICES = 12  # points of the efficiency-over-time plot


def site_counts(test_id: int) -> dict[str, dict]:
    """{site name: counts with efficiency} for one test: from its job rows, or,
    once retention removed them, from the summary stored with the test."""
    if Test.select().where(Test.id == test_id, Test.jobs_removed_at.is_null(False)).exists():
        return _stored_site_counts(test_id)
    names = dict(Site.select(Site.id, Site.name).tuples())
    return {names[site_id]: add_efficiency(counts)
            for site_id, counts in counts_by_site(test_id).items()}


def _stored_site_counts(test_id: int) -> dict[str, dict]:
    rows = TestSite.select(TestSite, Site.name).join(Site).where(TestSite.test == test_id)
    return {row.site.name: add_efficiency({key: getattr(row, key) for key in empty_counts()})
            for row in rows if row.jobs_total}


def state_counts(by_site: dict[str, dict]) -> dict[str, dict[str, int]]:
    return {site: {key.removeprefix("jobs_"): value for key, value in counts.items()
                   if key.startswith("jobs_") and key != "jobs_total"}
            for site, counts in by_site.items()}


def total(by_site: dict[str, dict]) -> dict:
    result = empty_counts()
    for counts in by_site.values():
        for key in result:
            result[key] += counts[key]
    return add_efficiency(result)


def failure_reasons(test_id: int, limit: int = 20) -> list[tuple[str, str, int]]:
    """[(reason, site, count)] of failed and lost jobs, commonest first."""
    number = pw.fn.COUNT(Job.id)
    rows = (Job.select(pw.fn.COALESCE(Job.reason, "unknown"), Site.name, number).join(Site)
            .where(Job.test == test_id, Job.state.in_([JobState.FAILED.value, JobState.LOST.value]))
            .group_by(pw.fn.COALESCE(Job.reason, "unknown"), Site.name)
            .order_by(number.desc()).limit(limit))
    return list(rows.tuples())


def walls_by_site(test_id: int) -> dict[int, list[float]]:
    """{site id: the sorted wall times of the test's jobs there}: one read of the index
    that covers (test, site, wall), no sort in SQL. The wall percentiles and the wall
    histogram are both made from it (a window query per percentile cost five times more)."""
    walls: dict[int, list[float]] = {}
    rows = database.execute_sql(  # plain rows: peewee's per-row conversion tripled the cost
        f"SELECT site_id, wall_seconds FROM job WHERE test_id = {database.param} "
        "AND wall_seconds IS NOT NULL", (test_id,))
    for site_id, wall in rows:
        walls.setdefault(site_id, []).append(wall)
    for values in walls.values():
        values.sort()
    return walls


def wall_buckets(test_id: int, buckets: int = 20,
                 walls: dict[int, list[float]] | None = None) -> list[tuple[float, float, int]]:
    """[(low, high, jobs)] of `buckets` equal slices from the shortest wall time to the
    longest (the longest in the last slice)."""
    walls = walls_by_site(test_id) if walls is None else walls
    present = [values for values in walls.values() if values]
    if not present:
        return []
    low, high = min(v[0] for v in present), max(v[-1] for v in present)
    width = (high - low) / buckets or 1.0
    counts = [0] * buckets
    for values in present:
        for wall in values:
            counts[min(buckets - 1, math.floor((wall - low) / width))] += 1
    return [(low + i * width, low + (i + 1) * width, n) for i, n in enumerate(counts)]


def efficiency_over_time(test_id: int, start: float, end: float) -> dict[str, list]:
    """Cumulative efficiency at SLICES moments of the test, overall and per site."""
    width = max(1.0, (end - start) / SLICES)
    piece = pw.fn.FLOOR((Job.ended_at - start) / width)
    ok = pw.fn.SUM(pw.Case(None, [(Job.state == JobState.COMPLETED.value, 1)], 0))
    bad = pw.fn.SUM(pw.Case(None, [(Job.state == JobState.FAILED.value, 1)], 0))
    # Grouped by site id, named afterwards: joining site costs a lookup per job.
    rows = (Job.select(Job.site, piece, ok, bad)
            .where(Job.test == test_id, Job.ended_at.is_null(False),
                   Job.state.in_([JobState.COMPLETED.value, JobState.FAILED.value]))
            .group_by(Job.site, piece).tuples())
    names = dict(Site.select(Site.id, Site.name).tuples())
    tallies: dict[str, dict[int, list[int]]] = {}
    for site_id, index, good, failed in rows:
        for name in (names[site_id], "all sites"):
            slot = tallies.setdefault(name, {}).setdefault(int(index), [0, 0])
            slot[0] += good
            slot[1] += failed
    series = {}
    for name, slots in sorted(tallies.items()):
        done = failed = 0
        points = []
        for index in sorted(slots):
            done, failed = done + slots[index][0], failed + slots[index][1]
            points.append(((index + 1) * width, done / (done + failed)))
        series[name] = points
    return series
