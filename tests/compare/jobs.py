"""Finished tests with many jobs written straight into the job table (fast enough for
100,000 jobs): the data that comparisons and their benchmark read."""
from __future__ import annotations

import numpy as np

from appliance import lifecycle
from appliance.db import database
from appliance.models import Job, Site, Test
from appliance.states import TestState

BATCH = 5000


def finished_test(template, start: float, jobs_per_site: dict[str, int], seed: int,
                  wall: dict[str, float] | None = None, metrics: int = 0,
                  failure_rate: float = 0.0) -> Test:
    """A completed test of `template` whose sites ran the given numbers of jobs: wall times
    log-normal around `wall[site]` (default 100 s), `metrics` payload metrics, some failed."""
    test = lifecycle.create_test(template, start, start + 3600, owner="tester",
                                 state=TestState.SCHEDULED)
    rng = np.random.default_rng(seed)
    sites = {s.name: s.id for s in Site.select()}
    rows = []
    for name, number in jobs_per_site.items():
        rows += _jobs(test.id, sites[name], number, rng, (wall or {}).get(name, 100.0),
                      metrics, failure_rate, start)
    fields = [Job.test, Job.site, Job.attempt, Job.state, Job.submitted_at, Job.started_at,
              Job.ended_at, Job.wall_seconds, Job.cpu_seconds, Job.metrics]
    with database.atomic():
        for first in range(0, len(rows), BATCH):
            Job.insert_many(rows[first:first + BATCH], fields=fields).execute()
    Test.update(state=TestState.COMPLETED.value, finished_at=start + 3600).where(
        Test.id == test.id).execute()
    return Test.get_by_id(test.id)


def _jobs(test_id, site_id, number, rng, wall_median, metrics, failure_rate, start) -> list:
    walls = wall_median * np.exp(rng.normal(0, 0.2, number))
    cpus = walls * rng.uniform(0.6, 0.95, number)
    queues = rng.exponential(20, number)
    failed = rng.random(number) < failure_rate
    values = rng.normal(50, 5, (number, metrics))
    rows = []
    for i in range(number):
        submitted = start + i % 3000
        numbers = {f"m{k}": round(float(values[i, k]), 3) for k in range(metrics)}
        rows.append((test_id, site_id, i + 1, "failed" if failed[i] else "completed",
                     submitted, submitted + queues[i], submitted + queues[i] + walls[i],
                     float(walls[i]), float(cpus[i]), numbers or None))
    return rows
