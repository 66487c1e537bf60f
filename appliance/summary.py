"""Per-test and per-test-site summaries, aggregated in SQL.

efficiency = completed / (completed + failed); killed and lost jobs count in the
total but not in the efficiency. Wall-time percentiles over jobs that ended with
a wall time.
"""
from __future__ import annotations

import math
import time

import peewee as pw

from appliance.db import database
from appliance.models import Job, Test, TestSite
from appliance.states import JobState

_COUNT_COLUMNS = {
    JobState.PENDING: "jobs_pending", JobState.SUBMITTED: "jobs_queued",
    JobState.QUEUED: "jobs_queued", JobState.RUNNING: "jobs_running",
    JobState.COMPLETED: "jobs_completed", JobState.FAILED: "jobs_failed",
    JobState.KILLED: "jobs_killed", JobState.LOST: "jobs_lost",
}
PERCENTILES = {"wall_p50": 0.50, "wall_p90": 0.90, "wall_p95": 0.95}


def empty_counts() -> dict:
    return {column: 0 for column in set(_COUNT_COLUMNS.values())} | {"jobs_total": 0}


def add_efficiency(counts: dict) -> dict:
    ended = counts["jobs_completed"] + counts["jobs_failed"]
    counts["efficiency"] = counts["jobs_completed"] / ended if ended else None
    return counts


def counts_by_site(test_id: int) -> dict[int, dict]:
    """{site id: counts} for one test, from one GROUP BY query."""
    rows = (Job.select(Job.site, Job.state, pw.fn.COUNT(Job.id))
            .where(Job.test == test_id).group_by(Job.site, Job.state).tuples())
    by_site: dict[int, dict] = {}
    for site_id, state, number in rows:
        counts = by_site.setdefault(site_id, empty_counts())
        counts[_COUNT_COLUMNS[JobState(state)]] += number
        counts["jobs_total"] += number
    return by_site


def wall_percentiles(test_id: int, site_id: int | None = None) -> dict:
    """Nearest-rank percentiles of wall time, computed by the database."""
    query = Job.select(Job.wall_seconds).where(Job.test == test_id, Job.wall_seconds.is_null(False))
    if site_id is not None:
        query = query.where(Job.site == site_id)
    number = query.count()
    result = {}
    for column, fraction in PERCENTILES.items():
        if not number:
            result[column] = None
            continue
        rank = min(number, max(1, math.ceil(fraction * number))) - 1
        result[column] = query.order_by(Job.wall_seconds).offset(rank).limit(1).scalar()
    return result


def refresh(test_id: int, now: float | None = None) -> dict:
    """Recompute and store the test's and its sites' summaries; return the test's."""
    now = time.time() if now is None else now
    by_site = counts_by_site(test_id)
    total = empty_counts()
    with database.atomic():
        for test_site in TestSite.select().where(TestSite.test == test_id):
            counts = add_efficiency(by_site.get(test_site.site_id, empty_counts()))
            for column in total:
                total[column] += counts[column]
            values = counts | wall_percentiles(test_id, test_site.site_id)
            TestSite.update(summarized_at=now, **values).where(
                TestSite.id == test_site.id).execute()
        values = add_efficiency(total) | wall_percentiles(test_id)
        Test.update(summarized_at=now, **values).where(Test.id == test_id).execute()
    return values
