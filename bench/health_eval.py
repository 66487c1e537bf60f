"""Site-health evaluation and replay cost over a long job history.

    .venv/bin/python bench/health_eval.py [SITES] [DAYS]

Fills a temporary SQLite database with SITES sites × 3 functional templates,
one finished job per site and template every 15 minutes for DAYS days (5 % of
them failed), then times one live evaluation (it reads only the 4-hour window)
and a replay of the last day at the policy's 5-minute interval.
"""
from __future__ import annotations

import random
import sys
import tempfile
import time

from appliance.db import database, open_database, upgrade
from appliance.health import live, replay, store
from appliance.lifecycle import create_test
from appliance.models import Job, JobTemplate, Site, Template, TemplateSite
from appliance.states import TestState

STEP = 900.0  # seconds between jobs of one site and template


def fill(sites: int, days: int, now: float) -> int:
    rows = [Site.create(name=f"SITE{i:04d}", backend="fake") for i in range(sites)]
    tests = []
    for name in ("fa", "fb", "fc"):
        template = Template.create(name=name, category="functional",
                                   job_template=JobTemplate.create(name=name, command="true"))
        TemplateSite.insert_many([dict(template=template, site=s) for s in rows]).execute()
        tests.append(create_test(template, now - days * 86400, now, "bench",
                                 state=TestState.RUNNING))
    draw = random.Random(1)
    count, batch = 0, []
    moment = now - days * 86400
    while moment <= now:
        for site in rows:
            for test in tests:
                failed = draw.random() < 0.05
                batch.append((test.id, site.id, 1, "failed" if failed else "completed",
                              moment - 60, moment, 1 if failed else 0))
        if len(batch) > 20_000:
            count += _insert(batch)
            batch = []
        moment += STEP
    return count + _insert(batch)


def _insert(batch) -> int:
    fields = [Job.test, Job.site, Job.attempt, Job.state, Job.created_at, Job.ended_at,
              Job.exit_code]
    with database.atomic():
        Job.insert_many(batch, fields=fields).execute()
    return len(batch)


def main() -> None:
    sites = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    days = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    folder = tempfile.mkdtemp(prefix="hc-bench-")
    open_database(f"sqlite:///{folder}/hc.sqlite")
    upgrade()
    now = time.time()
    began = time.perf_counter()
    jobs = fill(sites, days, now)
    print(f"history: {sites} sites x 3 templates, {days} days, {jobs} jobs "
          f"(filled in {time.perf_counter() - began:.1f} s)")
    for attempt in (1, 2):
        began = time.perf_counter()
        evaluation = live.evaluate_now(now + attempt)
        print(f"live evaluation {attempt}: {1000 * (time.perf_counter() - began):.0f} ms, "
              f"{evaluation.judged} judged, {len(evaluation.changes)} changes, "
              f"{len(evaluation.held)} held")
    _, policy = store.active_policy()
    began = time.perf_counter()
    result = replay.replay(policy, now - 86400, now)
    spent = time.perf_counter() - began
    print(f"replay of 1 day: {result.evaluations} evaluations in {spent:.1f} s "
          f"({1000 * spent / result.evaluations:.1f} ms each), {len(result.exclusions)} "
          f"exclusions, breaker held {result.held_evaluations} times")


if __name__ == "__main__":
    main()
