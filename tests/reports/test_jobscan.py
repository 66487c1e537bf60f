"""The job rows a summary reads, kept between reads (appliance/reports/jobscan.py): after
any history of changes (jobs added, started, ended, outcomes corrected, rows removed,
another test's jobs in between), a read from what was kept holds exactly what the
database holds, on SQLite and on PostgreSQL."""
from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance import lifecycle
from appliance.db import database, open_database, upgrade
from appliance.models import Job
from appliance.reports import jobscan
from appliance.states import JobState, TestState
from tests.factories import make_site, make_template

START = 1_000_000.0
FINAL = ("completed", "failed", "killed", "lost")

operations = st.lists(st.one_of(
    st.tuples(st.just("add"), st.integers(1, 6), st.integers(0, 1)),
    st.tuples(st.just("start"), st.integers(0, 50), st.floats(0, 100)),
    st.tuples(st.just("end"), st.integers(0, 50), st.sampled_from(FINAL),
              st.floats(0, 1000, allow_nan=False), st.integers(-3, 50)),
    st.tuples(st.just("correct"), st.integers(0, 50), st.sampled_from(("completed", "failed"))),
    st.tuples(st.just("remove"), st.integers(0, 50)),
    st.tuples(st.just("other"), st.integers(1, 5)),
), min_size=1, max_size=14)


def _expected(test_id: int) -> tuple[Counter, dict]:
    rows, sums = Counter(), {}
    for job in Job.select().where(Job.test == test_id):
        rows[(job.site_id, jobscan.STATES.index(job.state), job.submitted_at, job.started_at,
              job.ended_at, job.wall_seconds)] += 1
        if job.state in FINAL:
            for key, value in (job.metrics or {}).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    entry = sums.setdefault((job.site_id, key), [0.0, 0])
                    entry[0] += value
                    entry[1] += 1
    return rows, sums


def _as_read(scan: jobscan.Scan) -> Counter:
    def value(v):
        return None if math.isnan(v) else v
    return Counter((int(r[0]), int(r[1]), value(r[2]), value(r[3]), value(r[4]), value(r[5]))
                   for r in scan.rows.tolist())


def _run(history, sites, template, other):
    test = lifecycle.create_test(template, START, START + 3600, "tester",
                                 state=TestState.RUNNING)
    attempt = 0
    for step in history:
        jobs = list(Job.select().where(Job.test == test.id).order_by(Job.id))
        kind = step[0]
        if kind == "add":
            for _ in range(step[1]):
                attempt += 1
                Job.create(test=test, site=sites[step[2]], attempt=attempt,
                           state=JobState.QUEUED.value, submitted_at=START + attempt)
        elif kind == "other":
            for n in range(step[1]):
                Job.create(test=other, site=sites[0], attempt=1000 + n, state="queued",
                           submitted_at=START)
        elif jobs:
            job = jobs[step[1] % len(jobs)]
            if kind == "start" and job.state not in FINAL:
                Job.update(state="running", started_at=START + step[2]).where(
                    Job.id == job.id).execute()
            elif kind == "end" and job.state not in FINAL:
                metrics = None if step[4] < 0 else {"events": step[4], "rate": step[3] / 7,
                                                    "note": "text"}
                Job.update(state=step[2], ended_at=START + step[3],
                           wall_seconds=step[3] / 3, metrics=metrics).where(
                    Job.id == job.id).execute()
            elif kind == "correct" and job.state in ("killed", "lost"):
                Job.update(state=step[2], metrics={"events": 1}).where(Job.id == job.id).execute()
            elif kind == "remove":
                Job.delete().where(Job.id == job.id).execute()
        scan = jobscan.read(test.id, keep=True)
        rows, sums = _expected(test.id)
        assert _as_read(scan) == rows, f"after {step}"
        assert set(scan.metric_sums) == set(sums), f"after {step}"
        for key, (total, count) in sums.items():
            assert scan.metric_sums[key][1] == count
            assert math.isclose(scan.metric_sums[key][0], total, rel_tol=1e-9, abs_tol=1e-9)
    jobscan.keep_only([])


def _fixtures():
    sites = [make_site("alpha"), make_site("beta")]
    template = make_template("t", sites=sites)
    other = lifecycle.create_test(template, START, START + 3600, "tester",
                                  state=TestState.RUNNING)
    return sites, template, other


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=operations)
def test_a_kept_read_holds_what_the_database_holds(db, monkeypatch, history):
    monkeypatch.setattr(jobscan, "BLOCK", 4)  # blocks of a few jobs: many blocks, many cases
    if id(database.obj) not in _made:  # the db fixture is made once for all examples
        _made[id(database.obj)] = _fixtures()
    _run(history, *_made[id(database.obj)])


_made: dict = {}


@pytest.mark.postgres
def test_postgres(postgres_database, monkeypatch):
    connection = open_database(postgres_database)
    upgrade()
    monkeypatch.setattr(jobscan, "BLOCK", 4)
    try:
        fixtures = _fixtures()
        for history in ([("add", 6, 0), ("end", 1, "completed", 10.0, 4), ("start", 2, 5.0),
                         ("end", 2, "killed", 20.0, -1), ("other", 3), ("add", 3, 1),
                         ("correct", 2, "failed"), ("remove", 0), ("end", 5, "lost", 1.0, 2)],
                        [("add", 2, 1), ("end", 0, "failed", 3.0, 0), ("add", 5, 0),
                         ("end", 6, "completed", 9.0, 9), ("remove", 3), ("add", 1, 0)]):
            _run(history, *fixtures)
    finally:
        connection.close()
        database.initialize(None)


def test_a_block_that_changed_is_read_again_only_in_part(db, monkeypatch):
    """Once its jobs ended, a block is not read again; while some run, only those are."""
    from playhouse.test_utils import count_queries

    sites, template, _ = _fixtures()
    test = lifecycle.create_test(template, START, START + 3600, "tester",
                                 state=TestState.RUNNING)
    for n in range(20):
        Job.create(test=test, site=sites[n % 2], attempt=n, state="completed",
                   submitted_at=START, ended_at=START + n, wall_seconds=1.0,
                   metrics={"events": n})
    running = Job.create(test=test, site=sites[0], attempt=99, state="running",
                         submitted_at=START, started_at=START + 1)
    first = jobscan.read(test.id, keep=True)
    with count_queries() as counted:
        again = jobscan.read(test.id, keep=True)
    sql = [str(q.msg) for q in counted.get_queries()]
    assert _as_read(again) == _as_read(first)
    assert sum("json_each" in q for q in sql) == 0, "no metrics read again"
    assert sum("FROM job WHERE" in q and "LENGTH(metrics)" in q and "SUM" not in q
               for q in sql) == 1, "only the block of the running job, in part"
    Job.update(state="completed", ended_at=START + 50, wall_seconds=49.0,
               metrics={"events": 100}).where(Job.id == running.id).execute()
    ended = jobscan.read(test.id, keep=True)
    assert ended.metric_sums[(sites[0].id, "events")] == [float(sum(range(0, 20, 2)) + 100), 11]
    jobscan.keep_only([])


jobs = st.lists(st.tuples(
    st.integers(0, 1), st.sampled_from([s.value for s in JobState]),
    st.one_of(st.none(), st.floats(-50, 400)), st.one_of(st.none(), st.floats(-50, 400)),
    st.one_of(st.none(), st.floats(-50, 400)), st.one_of(st.none(), st.floats(0, 300))),
    max_size=40)


def _state_at(moment, state, submitted, started, ended):
    # The plot's rule, job by job: ended by then (lost counts as failed, killed as
    # neither), else running, else queued.
    if ended is not None and ended <= moment:
        return {"completed": "completed", "failed": "failed", "lost": "failed"}.get(state)
    if started is not None and started <= moment:
        return "running"
    if submitted is not None and submitted <= moment:
        return "queued"
    return None


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=jobs, now=st.floats(1, 500))
def test_the_plot_data_counted_from_the_scan_is_a_count_of_the_jobs(db, rows, now):
    from appliance.reports import counts, evolution, queries, summary

    if id(database.obj) not in _made:
        _made[id(database.obj)] = _fixtures()
    sites, template, _ = _made[id(database.obj)]
    test = lifecycle.create_test(template, START, START + 300, "tester",
                                 state=TestState.RUNNING)
    for n, (site, state, submitted, started, ended, wall) in enumerate(rows):
        Job.create(test=test, site=sites[site], attempt=n, state=state, wall_seconds=wall,
                   **{k: None if v is None else START + v for k, v in (
                       ("submitted_at", submitted), ("started_at", started),
                       ("ended_at", ended))})
    scan = jobscan.read(test.id)
    assert counts.counts_of_scan(scan) == counts.counts_by_site(test.id)

    seconds, by_state = evolution.states_over_time(test.id, START, START + 300, START + now,
                                                   scan)
    for i, moment in enumerate(seconds):
        expected = Counter(_state_at(moment, j.state, *[None if t is None else t - START
                                                        for t in (j.submitted_at, j.started_at,
                                                                  j.ended_at)])
                           for j in Job.select().where(Job.test == test.id))
        for state in evolution.OVER_TIME_STATES:
            # A time exactly on a moment may round to either side of it: allow that one.
            assert abs(by_state[state][i] - expected[state]) <= sum(
                1 for j in Job.select().where(Job.test == test.id)
                for t in (j.submitted_at, j.started_at, j.ended_at)
                if t is not None and math.isclose(t - START, moment, abs_tol=1e-6))

    width = 300 / queries.SLICES
    names = {s.id: s.name for s in sites}
    tallies: dict = {}
    for j in Job.select().where(Job.test == test.id, Job.ended_at.is_null(False),
                                Job.state.in_(["completed", "failed"])):
        piece = math.floor((j.ended_at - START) / width)
        for name in (names[j.site_id], "all sites"):
            tallies.setdefault(name, Counter())[(piece, j.state)] += 1
    expected_series = {}
    for name, tally in sorted(tallies.items()):
        done = ended = 0
        points = []
        for piece in sorted({p for p, _ in tally}):
            done += tally[(piece, "completed")]
            ended += tally[(piece, "completed")] + tally[(piece, "failed")]
            points.append(((piece + 1) * width, done / ended))
        expected_series[name] = points
    assert queries.efficiency_over_time(test.id, START, START + 300, scan) == expected_series

    walls = sorted(j.wall_seconds for j in Job.select().where(Job.test == test.id)
                   if j.wall_seconds is not None)
    overall, _ = summary.wall_percentiles_by_site(test.id, queries.walls_by_site(test.id, scan))
    if walls:
        assert overall["wall_p50"] == walls[math.ceil(0.5 * len(walls)) - 1 if len(walls) > 1
                                            else 0]
    else:
        assert overall == dict.fromkeys(summary.PERCENTILES)
