"""Where a job's time went: the queue, then the phases its payload reports.

A payload reports its phases in its metrics file (`$HC_METRICS_FILE`) as numbers
named `phase:NAME`, in seconds, for example

    {"phase:stagein": 3.2, "phase:setup": 1.0, "phase:exec": 41.5, "phase:stageout": 0.8,
     "events_per_s": 120}

(appliance/payload.py refuses a phase that is negative or longer than MAX_SECONDS).
The appliance adds the queue time from the backend (submit to start). Breakdowns
are means per site (a test's page, from its job rows) or per template (a site's
page, from the daily rollups), so that the parts of a stacked bar add up.
"""
from __future__ import annotations

import numpy as np
import peewee as pw

from appliance.models import DailyRollup, RollupMetric, Site, Template
from appliance.payload import PHASE_PREFIX as PREFIX

QUEUE = "queue"
MAX_PHASES = 12  # phases drawn at most (the most reported)
# Usual names in their usual order; other names follow alphabetically.
USUAL = ("stagein", "stage-in", "stage_in", "download", "setup", "init", "exec", "execution",
         "run", "processing", "validation", "stageout", "stage-out", "stage_out", "upload")


def is_phase(name: str) -> bool:
    return name.startswith(PREFIX)


def order(names) -> list[str]:
    """Phase names (without the prefix) in the order a job goes through them."""
    return sorted(names, key=lambda n: (USUAL.index(n) if n in USUAL else len(USUAL), n))


def of_job(job) -> list[tuple[str, float]]:
    """[(part, seconds)] of one job: its queue time, then its phases in order."""
    parts = []
    if job.submitted_at is not None and job.started_at is not None:
        parts.append((QUEUE, max(0.0, job.started_at - job.submitted_at)))
    phases = {k[len(PREFIX):]: v for k, v in (job.metrics or {}).items() if is_phase(k)}
    return parts + [(name, phases[name]) for name in order(phases)]


def of_test(test_id: int, averages=None, scan=None) -> dict[str, dict[str, float]]:
    """{site: {part: mean seconds}} of a test: queue, then each phase reported there
    (`averages`: evolution.metric_averages of the test, `scan`: its jobs as
    appliance/reports/jobscan.py reads them, when read already)."""
    from appliance.reports import evolution, jobscan

    scan = jobscan.read(test_id) if scan is None else scan
    names = dict(Site.select(Site.id, Site.name).tuples())
    queues = scan.column(jobscan.STARTED) - scan.column(jobscan.SUBMITTED)
    known = ~np.isnan(queues)
    sites, queues = scan.sites()[known], queues[known]
    parts: dict[str, dict[str, float]] = {}
    for site_id in jobscan.distinct(sites):
        parts.setdefault(names[site_id], {})[QUEUE] = max(0.0, float(queues[sites == site_id]
                                                                     .mean()))
    averages = evolution.metric_averages(test_id, scan) if averages is None else averages
    for site_id, key, mean, _ in averages:
        if is_phase(key):
            parts.setdefault(names[site_id], {})[key[len(PREFIX):]] = mean
    return _ordered(parts)


def of_site(site_id: int, start: float, end: float) -> dict[str, dict[str, float]]:
    """{template: {part: mean seconds}} of the jobs that ended at a site in [start, end),
    from the daily rollups (days whose start lies in the window)."""
    days = (DailyRollup.day >= start) & (DailyRollup.day < end)
    queue = (DailyRollup.select(Template.name, pw.fn.SUM(DailyRollup.queue_sum),
                                pw.fn.SUM(DailyRollup.queue_count)).join(Template)
             .where(DailyRollup.site == site_id, days).group_by(Template.name).tuples())
    parts: dict[str, dict[str, float]] = {}
    for name, total, count in queue:
        if count:
            parts.setdefault(name, {})[QUEUE] = max(0.0, total / count)
    metric_days = (RollupMetric.day >= start) & (RollupMetric.day < end)
    phases = (RollupMetric.select(Template.name, RollupMetric.name, pw.fn.SUM(RollupMetric.total),
                                  pw.fn.SUM(RollupMetric.count)).join(Template)
              .where(RollupMetric.site == site_id, metric_days,
                     pw.fn.SUBSTR(RollupMetric.name, 1, len(PREFIX)) == PREFIX)
              .group_by(Template.name, RollupMetric.name).tuples())
    for name, key, total, count in phases:
        if count:
            parts.setdefault(name, {})[key[len(PREFIX):]] = total / count
    return _ordered(parts)


def _ordered(parts: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each group's parts: queue first, then the MAX_PHASES most common phases in order."""
    seen: dict[str, int] = {}
    for group in parts.values():
        for name in group:
            if name != QUEUE:
                seen[name] = seen.get(name, 0) + 1
    kept = order(sorted(seen, key=lambda n: -seen[n])[:MAX_PHASES])
    return {group: {name: values[name] for name in [QUEUE, *kept] if name in values}
            for group, values in sorted(parts.items())}
