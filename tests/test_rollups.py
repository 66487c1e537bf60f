"""Daily rollups against a direct count over the same job rows: random
histories, jobs ending in any order and across midnight, on SQLite and PostgreSQL."""
from __future__ import annotations

import math
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance import lifecycle, rollups
from appliance.agents import jobbook
from appliance.backends.base import JobStatus
from appliance.db import database, open_database, upgrade
from appliance.models import (
    CPU_EFFICIENCY_BUCKETS,
    CPU_EFFICIENCY_EDGES,
    QUEUE_BUCKETS,
    QUEUE_EDGES,
    WALL_BUCKETS,
    WALL_EDGES,
    DailyRollup,
    Job,
    RollupMetric,
    RollupMetricBucket,
    Test,
)
from appliance.states import JobState, TestState
from tests.factories import make_site, make_template

DAY = 86400
MIDNIGHT = 20_000 * DAY  # some UTC midnight
FINAL = [JobState.COMPLETED, JobState.FAILED, JobState.KILLED, JobState.LOST]

job = st.fixed_dictionaries({
    "test": st.integers(0, 2), "site": st.integers(0, 1), "state": st.sampled_from(FINAL),
    # Ends from a day before to a day after midnight; runs of up to 3 hours.
    "ended": st.floats(MIDNIGHT - DAY, MIDNIGHT + DAY, allow_nan=False),
    "wall": st.one_of(st.none(), st.floats(0, 3 * 3600, allow_nan=False)),
    "cpu": st.one_of(st.none(), st.floats(0, 100, allow_nan=False)),
    "metric": st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)),
    "by_agent": st.booleans(),
    # A job recorded killed or lost whose real outcome the backend reports later.
    "late": st.sampled_from([None, JobState.COMPLETED, JobState.FAILED])})


@pytest.fixture
def world(db):
    sites = [make_site(f"r{n}") for n in range(2)]
    templates = [make_template("fun", sites=sites, category="functional"),
                 make_template("str", sites=sites)]
    tests = [lifecycle.create_test(templates[n % 2], 0, 1e12, "tester", state=TestState.RUNNING)
             for n in range(3)]
    return sites, tests


def _finish(jobs: list[dict], sites, tests, batches: int) -> None:
    """Insert the jobs pending, then end them in batches, in the order given."""
    rows = [dict(test=tests[j["test"]].id, site=sites[j["site"]].id, attempt=n, state="running",
                 created_at=0, submitted_at=j["ended"] - (j["wall"] or 0) - 5,
                 started_at=j["ended"] - (j["wall"] or 0)) for n, j in enumerate(jobs)]
    if not jobs:
        return
    ids = [r[0] for r in Job.insert_many(rows).returning(Job.id).tuples().execute()]
    size = max(1, math.ceil(len(jobs) / batches))
    for start in range(0, len(jobs), size):
        part = list(zip(ids[start:start + size], jobs[start:start + size], strict=True))
        polled = [(jobbook.jobs_by_id([i])[0], JobStatus(
            j["state"], ended_at=j["ended"], cpu_seconds=j["cpu"],
            metrics=None if j["metric"] is None else {"rate": j["metric"]}))
            for i, j in part if not j["by_agent"]]
        jobbook.record_statuses(polled, 0, "metrics.json")
        for i, j in part:
            if j["by_agent"]:
                active = jobbook.jobs_by_id([i])[0]
                jobbook.end_jobs([active], j["state"], "ended by the agent", j["ended"])
        # A second report of the same end must not count again.
        jobbook.record_statuses(polled, 0, "metrics.json")
    late = [(jobbook.jobs_by_id([i])[0], JobStatus(j["late"], ended_at=j["ended"] + 1,
                                                   cpu_seconds=j["cpu"]))
            for i, j in zip(ids, jobs, strict=True)
            if j.get("late") and j["state"] in (JobState.KILLED, JobState.LOST)]
    jobbook.correct_outcomes(late, 0, "metrics.json")
    jobbook.correct_outcomes(late, 0, "metrics.json")  # twice: the second changes nothing


def _direct() -> dict:
    """The rollup columns computed straight from the job rows."""
    expected: dict = defaultdict(lambda: defaultdict(float))
    query = Job.select(Job, Test.template, Test.category).join(Test)
    for row in query.objects():
        key = (rollups.day_of(row.ended_at), row.site_id, row.template, row.category)
        cell = expected[key]
        cell[rollups.COUNTS[row.state]] += 1
        if row.wall_seconds is not None:
            cell["wall_count"] += 1
            cell["wall_sum"] += row.wall_seconds
            cell[WALL_BUCKETS[sum(1 for e in WALL_EDGES if e <= row.wall_seconds)]] += 1
        if row.cpu_seconds is not None:
            cell["cpu_count"] += 1
            cell["cpu_sum"] += row.cpu_seconds
            if row.wall_seconds:
                ratio = row.cpu_seconds / row.wall_seconds
                cell[CPU_EFFICIENCY_BUCKETS[sum(1 for e in CPU_EFFICIENCY_EDGES
                                                if e <= ratio)]] += 1
        if row.submitted_at is not None and row.started_at is not None:
            queue = max(0.0, row.started_at - row.submitted_at)
            cell[QUEUE_BUCKETS[sum(1 for e in QUEUE_EDGES if e <= queue)]] += 1
        if row.metrics:
            cell["rate_count"] += 1
            cell["rate_total"] += row.metrics["rate"]
            cell[f"rate_b{rollups.metric_bucket(row.metrics['rate'])}"] += 1
    return expected


def _stored() -> dict:
    stored: dict = {}
    names = ["completed", "failed", "killed", "lost", "wall_count", "wall_sum", "cpu_count",
             "cpu_sum", *WALL_BUCKETS, *CPU_EFFICIENCY_BUCKETS, *QUEUE_BUCKETS]
    for row in DailyRollup.select():
        key = (row.day, row.site_id, row.template_id, row.category)
        stored[key] = {n: getattr(row, n) for n in names if getattr(row, n)}
    for row in RollupMetric.select():
        key = (row.day, row.site_id, row.template_id, row.category)
        stored[key] |= {n: v for n, v in (("rate_count", row.count), ("rate_total", row.total))
                        if v}
    for row in RollupMetricBucket.select():
        key = (row.day, row.site_id, row.template_id, row.category)
        if row.count:
            stored.setdefault(key, {})[f"rate_b{row.bucket}"] = row.count
    return stored


def _check(jobs, world, batches):
    sites, tests = world
    Job.delete().execute()
    DailyRollup.delete().execute()
    RollupMetric.delete().execute()
    RollupMetricBucket.delete().execute()
    _finish(jobs, sites, tests, batches)
    expected = {k: {n: v for n, v in cell.items() if v} for k, cell in _direct().items()}
    stored = _stored()
    assert stored.keys() == expected.keys()
    for key, cell in expected.items():
        assert stored[key].keys() == cell.keys(), key
        for name, value in cell.items():
            assert stored[key][name] == pytest.approx(value, rel=1e-9, abs=1e-6), (key, name)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(job, max_size=30), st.integers(1, 4), st.randoms())
def test_rollups_equal_a_direct_count(world, jobs, batches, random):
    random.shuffle(jobs)  # ends reported in any order, not by time
    _check(jobs, world, batches)


def test_a_job_is_in_the_day_it_ended_and_a_test_across_midnight_in_both(world):
    before = dict(test=0, site=0, state=JobState.COMPLETED, ended=MIDNIGHT - 1, wall=7200.0,
                  cpu=None, metric=None, by_agent=False, late=None)
    after = before | {"ended": MIDNIGHT + 60}  # started before midnight too
    _check([after, before], world, 1)
    days = sorted(r.day for r in DailyRollup.select())
    assert days == [MIDNIGHT - DAY, MIDNIGHT]


def test_a_late_outcome_that_moves_a_job_to_the_next_day_leaves_no_empty_day(world):
    killed = dict(test=0, site=0, state=JobState.KILLED, ended=MIDNIGHT - 0.5, wall=None,
                  cpu=None, metric=1.0, by_agent=False, late=JobState.COMPLETED)
    _check([killed], world, 1)  # its corrected end is a second later: past midnight
    assert [r.day for r in DailyRollup.select()] == [MIDNIGHT]
    assert {r.day for r in RollupMetric.select()} <= {MIDNIGHT}


@pytest.mark.postgres
def test_postgres_agrees(postgres_database):
    connection = open_database(postgres_database)
    upgrade()
    try:
        sites = [make_site(f"p{n}") for n in range(2)]
        template = make_template("pf", sites=sites, category="functional")
        tests = [lifecycle.create_test(template, 0, 1e12, "t", state=TestState.RUNNING)]
        jobs = [dict(test=0, site=n % 2, state=FINAL[n % 4], ended=MIDNIGHT + 977.0 * n - DAY,
                     wall=None if n % 7 == 0 else 11.0 * n, cpu=float(n), metric=float(n % 5),
                     by_agent=n % 3 == 0, late=JobState.COMPLETED if n % 8 == 2 else None)
                for n in range(200)]
        _finish(jobs[::-1], sites, tests, 3)
        expected = {k: {n: v for n, v in cell.items() if v} for k, cell in _direct().items()}
        stored = _stored()
        assert stored.keys() == expected.keys()
        for key, cell in expected.items():
            assert stored[key] == pytest.approx(cell), key
        assert RollupMetric.select().where(RollupMetric.low.is_null()).count() == 0
    finally:
        connection.close()


@given(st.lists(st.floats(0, 100_000, allow_nan=False), min_size=1, max_size=200),
       st.sampled_from([0.5, 0.9, 0.95]))
def test_histogram_quantile_is_in_the_bucket_of_the_exact_one(walls, q):
    buckets = [0] * len(WALL_BUCKETS)
    for wall in walls:
        buckets[rollups.bucket_of(wall)] += 1
    estimate = rollups.quantile(buckets, q, max(walls))
    exact = sorted(walls)[max(1, math.ceil(q * len(walls))) - 1]
    index = rollups.bucket_of(exact)
    low = WALL_EDGES[index - 1] if index else 0
    high = WALL_EDGES[index] if index < len(WALL_EDGES) else max(walls)
    assert low <= estimate <= max(high, low) and estimate <= max(walls)


def test_backfill_counts_old_jobs_once_and_resumes(world, capsys):
    sites, tests = world
    rows = [dict(test=tests[0].id, site=sites[n % 2].id, attempt=n, state=s, created_at=0,
                 ended_at=MIDNIGHT + n, wall_seconds=5.0)
            for n, s in enumerate(["completed", "failed", "running", "lost"] * 25)]
    Job.insert_many(rows).execute()
    from appliance.models import RollupBackfill
    RollupBackfill.delete().execute()
    top = Job.select(Job.id).order_by(Job.id.desc()).scalar()
    # Interrupted after its first batch: the cursor stands there.
    RollupBackfill.create(last_job_id=0, max_job_id=top, started_at=0)
    first = Job.select(Job.id).order_by(Job.id).scalar()
    rollups.apply(rollups.accumulate(Job.select(*rollups._COLUMNS).join(Test)
                                     .where(Job.id < first + 10).tuples()))
    RollupBackfill.update(last_job_id=first + 9).execute()
    assert rollups.backfill(batch=17, progress=print) == 75 - 8
    assert "100%" in capsys.readouterr().out
    assert rollups.backfill() == 0  # finished: nothing counted twice
    totals = DailyRollup.select().get()
    assert sum(r.completed + r.failed + r.lost for r in DailyRollup.select()) == 75
    assert totals.killed == 0


def test_the_histograms_added_later_are_filled_for_the_jobs_counted_before(world):
    """Migration 0024: rollups counted without the CPU efficiency and queue histograms
    get them from the job rows; jobs a backfill has still to reach are left to it."""
    from appliance.models import RollupBackfill
    sites, tests = world
    jobs = [dict(test=n % 3, site=n % 2, state=FINAL[n % 4], ended=MIDNIGHT + 600.0 * n,
                 wall=30.0 * (n % 9), cpu=7.0 * (n % 5), metric=None if n % 6 == 0 else
                 (-1.0) ** n * 10.0 ** (n % 7 - 3), by_agent=n % 2 == 0, late=None)
            for n in range(60)]
    _check(jobs, world, 2)
    expected = _stored()
    ids = sorted(i for (i,) in Job.select(Job.id).tuples())
    # As counted before the histograms existed: backfilled up to the 40th job, not beyond.
    beyond = Job.select(*rollups._COLUMNS).join(Test).where(Job.id > ids[39])
    rollups.apply({k: d.negated() for k, d in rollups.accumulate(
        database.execute_sql(*beyond.sql()).fetchall()).items()})
    DailyRollup.update({getattr(DailyRollup, n): 0
                        for n in (*CPU_EFFICIENCY_BUCKETS, *QUEUE_BUCKETS)}).execute()
    RollupMetricBucket.delete().execute()
    RollupBackfill.delete().execute()
    RollupBackfill.create(last_job_id=ids[39], max_job_id=ids[-1], started_at=0)
    assert rollups.fill_histograms(batch=7) == 40
    assert rollups.backfill(batch=9) == 20
    assert _stored() == expected


@given(st.lists(st.floats(-1e18, 1e18, allow_nan=False), min_size=1, max_size=200),
       st.floats(0.01, 1.0))
def test_metric_quantile_is_in_the_bucket_of_the_exact_one(values, q):
    counts: dict[int, int] = {}
    for value in values:
        counts[rollups.metric_bucket(value)] = counts.get(rollups.metric_bucket(value), 0) + 1
    (estimate,) = rollups.metric_quantiles(counts, (q,), min(values), max(values))
    exact = sorted(values)[max(1, math.ceil(q * len(values))) - 1]
    low, high = rollups.metric_bucket_range(rollups.metric_bucket(exact))
    assert min(low, exact) - 1e-9 * abs(exact) <= estimate <= max(high, exact) + 1e-9 * abs(exact)
    assert min(values) <= estimate <= max(values)


@given(st.floats(-1e18, 1e18, allow_nan=False), st.floats(-1e18, 1e18, allow_nan=False))
def test_metric_buckets_keep_the_order_of_values(a, b):
    if a <= b:
        assert rollups.metric_bucket(a) <= rollups.metric_bucket(b)
