"""Aggregates for the pages: computed by the database (one query each, not per row), or
counted with numpy over a test's jobs as appliance/reports/jobscan.py reads them (the
wall times, the efficiency over time)."""
from __future__ import annotations

import numpy as np
import peewee as pw

from appliance.models import Job, Site, Test, TestSite
from appliance.reports import jobscan
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


def walls_by_site(test_id: int, scan: jobscan.Scan | None = None) -> dict[int, np.ndarray]:
    """{site id: the sorted wall times of the test's jobs there}, from its scan
    (appliance/reports/jobscan.py). The wall percentiles and the wall histogram are
    both made from it."""
    scan = jobscan.read(test_id) if scan is None else scan
    walls = scan.column(jobscan.WALL)
    known = ~np.isnan(walls)
    sites, walls = scan.sites()[known], walls[known]
    if not len(walls):
        return {}
    order = np.lexsort((walls, sites))  # by site, then by wall time: one sort for all
    sites, walls = sites[order], walls[order]
    firsts = np.flatnonzero(np.r_[True, sites[1:] != sites[:-1]]).tolist()
    return {int(sites[first]): walls[first:last] for first, last
            in zip(firsts, [*firsts[1:], len(sites)], strict=True)}


def wall_buckets(test_id: int, buckets: int = 20,
                 walls: dict[int, np.ndarray] | None = None) -> list[tuple[float, float, int]]:
    """[(low, high, jobs)] of `buckets` equal slices from the shortest wall time to the
    longest (the longest in the last slice)."""
    walls = walls_by_site(test_id) if walls is None else walls
    present = [values for values in walls.values() if len(values)]
    if not present:
        return []
    every = np.concatenate(present)
    low, high = float(every.min()), float(every.max())
    width = (high - low) / buckets or 1.0
    slots = np.minimum(buckets - 1, np.floor((every - low) / width).astype(np.int64))
    counts = np.bincount(slots, minlength=buckets)
    return [(low + i * width, low + (i + 1) * width, int(n)) for i, n in enumerate(counts)]


def efficiency_over_time(test_id: int, start: float, end: float,
                         scan: jobscan.Scan | None = None) -> dict[str, list]:
    """Cumulative efficiency at the end of each of SLICES equal slices of the test (and
    of any slice after its end in which jobs ended), overall and per site: a point per
    slice in which jobs completed or failed."""
    scan = jobscan.read(test_id) if scan is None else scan
    width = max(1.0, (end - start) / SLICES)
    states, ended = scan.states(), scan.column(jobscan.ENDED)
    good = states == jobscan.CODE[JobState.COMPLETED]
    counted = (good | (states == jobscan.CODE[JobState.FAILED])) & ~np.isnan(ended)
    pieces = np.floor((ended[counted] - start) / width).astype(np.int64)
    good, sites = good[counted], scan.sites()[counted]
    names = dict(Site.select(Site.id, Site.name).tuples())
    groups = {names[site_id]: sites == site_id for site_id in jobscan.distinct(sites)}
    if len(pieces):
        groups["all sites"] = np.ones(len(pieces), dtype=bool)
        first = int(pieces.min())
    series = {}
    for name, which in sorted(groups.items()):
        # Jobs per slice (slices counted from the first one any job ended in), cumulated.
        slots = pieces[which] - first
        ended_there = np.bincount(slots)
        done = np.cumsum(np.bincount(slots, weights=good[which], minlength=len(ended_there)))
        present = np.flatnonzero(ended_there)
        series[name] = [((int(index) + first + 1) * width, float(done[index] / total))
                        for index, total in zip(present, np.cumsum(ended_there)[present],
                                                strict=True)]
    return series
