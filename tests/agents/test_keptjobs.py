"""The submit agent keeps each site's active jobs between iterations
(appliance/agents/keptjobs.py): what it keeps must always be what the database
holds, whatever changed behind its back."""
from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.agents import jobbook, keptjobs
from appliance.agents.lease import Lease, take_over
from appliance.agents.submit import SubmitAgent
from appliance.models import Job, Test, TestSite
from appliance.states import JobState
from tests.factories import make_running_test, make_site, make_template

T0 = float(int(time.time()))


@pytest.fixture
def agent(db, settings):
    return SubmitAgent(settings.replace(poll_interval=1.0))


def _test(agent, sites=2, max_running=3, **backend):
    sites = [make_site(backend="fake", **backend) for _ in range(sites)]
    template = make_template(sites=sites, load={"max_running": max_running}, command="true")
    return make_running_test(template, agent.host, T0)


def _kept(agent, test_id: int) -> dict[int, list]:
    """site id -> the agent's kept jobs (as comparable tuples), for one test."""
    return {site_id: sorted(_row(job) for job in jobs)
            for (kept_test, site_id), (_, jobs) in agent._kept._kept.items()
            if kept_test == test_id}


def _row(job) -> tuple:
    return (job.id, job.state, job.backend_id, job.work_dir, job.submitted_at, job.started_at,
            job.attempt, job.submit_host)


def _in_database(test_id: int) -> dict[int, list]:
    sites = [ts.site_id for ts in TestSite.select().where(TestSite.test == test_id)]
    return {site_id: sorted(_row(job) for job in jobbook.active_jobs(test_id, site_id))
            for site_id in sites}


def _reads(monkeypatch) -> list:
    calls = []
    real = jobbook.active_jobs

    def counted(test_id, site_id=None):
        calls.append((test_id, site_id))
        return real(test_id, site_id)
    monkeypatch.setattr(jobbook, "active_jobs", counted)
    return calls


def test_a_quiet_iteration_reads_no_job_rows(agent, monkeypatch):
    test = _test(agent, run_seconds=3600)
    agent.loop_once(T0)
    agent.loop_once(T0 + 2)  # the first read after the start
    reads = _reads(monkeypatch)
    agent.loop_once(T0 + 4)
    agent.loop_once(T0 + 6)
    assert reads == [], "nothing changed: the kept jobs serve"
    assert _kept(agent, test.id) == _in_database(test.id)
    assert agent.load() == 6


def test_a_job_ended_behind_the_agents_back_is_not_counted(agent, monkeypatch):
    test = _test(agent, sites=1, run_seconds=3600)
    agent.loop_once(T0)
    agent.loop_once(T0 + 2)
    job = jobbook.active_jobs(test.id)[0]
    jobbook.end_jobs([job], JobState.KILLED, "by someone else", T0 + 3)
    reads = _reads(monkeypatch)
    agent.loop_once(T0 + 4)
    assert reads, "the fingerprint differed: read again"
    assert job.id not in {row[0] for rows in _kept(agent, test.id).values() for row in rows}
    assert Job.select().where(Job.test == test.id, Job.state != "killed").count() == 3, \
        "the ended job was replaced: the load is kept"
    assert _kept(agent, test.id) == _in_database(test.id)


def test_a_new_lease_reads_the_jobs_again(agent):
    """A job's start changed by another holder (same count, same ids): only the
    lease says so, and the timeout is enforced on the database's start."""
    test = _test(agent, sites=1, run_seconds=3600)
    agent.loop_once(T0)
    agent.loop_once(T0 + 2)
    job = jobbook.active_jobs(test.id)[0]
    Job.update(started_at=T0 - 10 * 86400).where(Job.id == job.id).execute()
    agent.loop_once(T0 + 4)
    assert Job.get_by_id(job.id).state == "running", "same lease: the kept start is used"
    assert take_over(test.id, agent.host, agent.host)
    agent.loop_once(T0 + 6)
    ended = Job.get_by_id(job.id)
    assert ended.state == "failed" and ended.reason.startswith("timeout"), ended.reason


def test_a_refused_status_write_keeps_the_databases_state(agent):
    test = _test(agent, sites=1, run_seconds=0)
    agent.loop_once(T0)
    jobs = jobbook.active_jobs(test.id)
    # Someone else decided the first job while the agent looked at its backend.
    real = jobbook.record_statuses

    def racing(changes, now, metrics_file, lease=None):
        jobbook.end_jobs([jobs[0]], JobState.KILLED, "by someone else", now)
        return real(changes, now, metrics_file, lease)
    jobbook.record_statuses = racing
    try:
        agent.loop_once(T0 + 2)
    finally:
        jobbook.record_statuses = real
    assert Job.get_by_id(jobs[0].id).state == "killed"
    assert _kept(agent, test.id) == _in_database(test.id)


CHANGES = st.lists(st.sampled_from(["end", "add", "start", "lease", "wait"]), max_size=8)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=CHANGES, run=st.sampled_from([0, 3, 3600]))
def test_what_is_kept_is_what_the_database_holds(agent, changes, run):
    """Any mix of outside changes between iterations: after each iteration the
    kept jobs of every site equal the database's active jobs."""
    test = _test(agent, run_seconds=run, run_seconds_max=run + 2)
    now = T0
    agent.loop_once(now)
    for change in changes:
        active = jobbook.active_jobs(test.id)
        if change == "end" and active:
            jobbook.end_jobs([active[-1]], JobState.LOST, "by someone else", now)
        elif change == "add":
            site = TestSite.select().where(TestSite.test == test.id).first()
            Job.create(test=test.id, site=site.site_id, attempt=10_000 + len(active),
                       state="submitted", created_at=now, submitted_at=now, submit_host="other",
                       backend_id=f"fake-0-0-{now:.3f}")
        elif change == "start" and active:
            Job.update(state="running", started_at=now).where(Job.id == active[0].id).execute()
            assert take_over(test.id, agent.host, agent.host)  # the other holder's lease
        elif change == "lease":
            assert take_over(test.id, agent.host, agent.host)
        now += 1.5
        agent.loop_once(now)
        if Test.get_by_id(test.id).state != "running":
            break
        assert _kept(agent, test.id) == _in_database(test.id), change
    # Each example starts afresh (the fixtures are per test function).
    for model in (Job, TestSite):
        model.delete().execute()
    agent._kept.forget_all_but(set())


def test_the_fingerprint_of_a_list_is_the_databases(db):
    site = make_site(backend="fake")
    template = make_template(sites=[site], load={"max_running": 3}, command="true")
    test = make_running_test(template, "test-host", T0)
    for n, state in enumerate(["pending", "submitted", "running", "completed", "queued"]):
        Job.create(test=test.id, site=site.id, attempt=n, state=state, created_at=T0)
    lease = Lease.of(Test.get_by_id(test.id))
    jobs = jobbook.active_jobs(test.id, site.id)
    assert len(jobs) == 4
    assert jobbook.active_fingerprint(test.id, site.id) == keptjobs.fingerprint(jobs)
    assert jobbook.active_fingerprint(test.id, site.id + 1) == (0, 0)
    kept = keptjobs.KeptJobs()
    kept.keep(lease, site.id, jobs)
    assert kept.active(lease, site.id) is jobs
    kept.keep(lease, site.id, jobs)
    Job.update(state="failed").where(Job.id == jobs[0].id).execute()
    assert [j.id for j in kept.active(lease, site.id)] == [j.id for j in jobs[1:]]
