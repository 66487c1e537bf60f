"""Jobs of a test counted per site and state, with the efficiency.

efficiency = completed / (completed + failed); killed and lost jobs count in the
total but not in the efficiency.
"""
from __future__ import annotations

import numpy as np
import peewee as pw

from appliance.models import Job
from appliance.reports.jobscan import STATES
from appliance.states import JobState

_COUNT_COLUMNS = {
    JobState.PENDING: "jobs_pending", JobState.SUBMITTED: "jobs_queued",
    JobState.QUEUED: "jobs_queued", JobState.RUNNING: "jobs_running",
    JobState.COMPLETED: "jobs_completed", JobState.FAILED: "jobs_failed",
    JobState.KILLED: "jobs_killed", JobState.LOST: "jobs_lost",
}

def empty_counts() -> dict:
    return {column: 0 for column in set(_COUNT_COLUMNS.values())} | {"jobs_total": 0}


def add_efficiency(counts: dict) -> dict:
    ended = counts["jobs_completed"] + counts["jobs_failed"]
    counts["efficiency"] = counts["jobs_completed"] / ended if ended else None
    return counts


def counts_of_scan(scan) -> dict[int, dict]:
    """{site id: counts} of a test's jobs as appliance/reports/jobscan.py read them
    (the summary's heavy part has them already: no second pass)."""
    states = scan.states()
    known = states >= 0  # -1: a state no JobState names (none is ever written)
    numbers = np.bincount(scan.sites()[known] * len(STATES) + states[known])
    by_site: dict[int, dict] = {}  # a (site, state) pair is one number: site * states + state
    for pair in np.flatnonzero(numbers).tolist():
        number = int(numbers[pair])
        site_id, code = divmod(pair, len(STATES))
        counts = by_site.setdefault(site_id, empty_counts())
        counts[_COUNT_COLUMNS[JobState(STATES[code])]] += number
        counts["jobs_total"] += number
    return by_site


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
