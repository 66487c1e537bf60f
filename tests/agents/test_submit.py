"""The submit agent, one iteration at a time with a fixed clock."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from appliance import lifecycle, workarea
from appliance.agents import jobbook
from appliance.agents.submit import SubmitAgent
from appliance.models import Job, Site, Test, TestLog, TestSite
from appliance.states import JobState, TestState
from tests.factories import make_running_test, make_site, make_template

# A fixed "now" for the agent (near the real time, which backends report in).
T0 = float(int(time.time()))


@pytest.fixture
def agent(db, settings):
    return SubmitAgent(settings.replace(poll_interval=1.0))


def _jobs(test, state=None):
    query = Job.select().where(Job.test == test.id)
    if state:
        query = query.where(Job.state == state.value)
    return list(query)


def _test(agent, start=T0, sites=2, backend="fake", command="true", **settings):
    sites = [make_site(backend=backend, **settings) for _ in range(sites)]
    template = make_template(sites=sites, load={"max_running": 3}, command=command)
    return make_running_test(template, agent.host, start)


def test_nothing_happens_before_the_start_time(agent):
    test = _test(agent, start=T0 + 60, run_seconds=60)
    agent.loop_once(T0)
    assert Test.get_by_id(test.id).state == TestState.SCHEDULED.value
    assert not _jobs(test)


def test_start_makes_the_work_area_and_keeps_the_load(agent, settings):
    test = _test(agent, run_seconds=60)
    agent.loop_once(T0)
    assert Test.get_by_id(test.id).state == TestState.RUNNING.value
    assert os.path.isfile(os.path.join(workarea.test_dir(settings.work_dir, test.id), "test.json"))
    jobs = _jobs(test)
    assert len(jobs) == 6 and {j.state for j in jobs} == {JobState.SUBMITTED.value}
    for job in jobs:
        assert os.path.isfile(os.path.join(job.work_dir, "spec.json")) and job.backend_id
    agent.loop_once(T0 + 5)
    assert len(_jobs(test)) == 6, "the load is kept, not exceeded"
    assert {j.state for j in _jobs(test)} == {JobState.RUNNING.value}
    assert agent.load() == 6


def test_jobs_are_resubmitted_as_they_end(agent):
    test = _test(agent, run_seconds=0)
    for step in range(4):
        agent.loop_once(T0 + 5 * step)
    jobs = _jobs(test)
    assert len(_jobs(test, JobState.COMPLETED)) == 18
    assert len(jobs) == 24
    attempts = sorted(j.attempt for j in jobs if j.site_id == jobs[0].site_id)
    assert attempts == list(range(1, 13))


def test_job_cap_ends_the_test_early(agent):
    test = _test(agent, run_seconds=0)
    TestSite.update(job_cap=4).where(TestSite.test == test.id).execute()
    for step in range(5):
        agent.loop_once(T0 + 5 * step)
    test = Test.get_by_id(test.id)
    assert test.state == TestState.COMPLETED.value
    assert "job limit" in test.state_reason
    assert test.jobs_completed == 8 and test.jobs_total == 8 and test.efficiency == 1.0


def test_no_resubmit_sends_one_wave(agent):
    test = _test(agent, run_seconds=0)
    TestSite.update(resubmit=False).where(TestSite.test == test.id).execute()
    for step in range(3):
        agent.loop_once(T0 + 5 * step)
    assert len(_jobs(test)) == 6
    assert Test.get_by_id(test.id).state == TestState.COMPLETED.value


def test_end_time_kills_leftovers_and_completes(agent):
    test = _test(agent, run_seconds=3600)
    agent.loop_once(T0)
    agent.loop_once(test.end_at)
    test = Test.get_by_id(test.id)
    assert test.state == TestState.COMPLETED.value
    killed = _jobs(test, JobState.KILLED)
    assert len(killed) == 6 and all(j.reason == "still active at the end of the test"
                                     for j in killed)
    assert test.jobs_killed == 6 and test.efficiency is None


def test_cancelled_test_jobs_are_killed(agent):
    test = _test(agent, run_seconds=3600)
    agent.loop_once(T0)
    lifecycle.cancel(test.id, "alice")
    agent.loop_once(T0 + 1)
    assert len(_jobs(test, JobState.KILLED)) == 6
    assert Test.get_by_id(test.id).state == TestState.CANCELLED.value


def test_load_changes_apply_while_running(agent):
    test = _test(agent, sites=1, run_seconds=3600)
    agent.loop_once(T0)
    site = Site.get_by_id(_jobs(test)[0].site_id)
    lifecycle.set_load(test.id, site.name, "alice", max_running=5)
    agent.loop_once(T0 + 5)
    assert len(_jobs(test)) == 5
    log = TestLog.select().where(TestLog.test == test.id, TestLog.severity == "queuecontrol")
    assert [line.message for line in log] == [f"{site.name}: max_running -> 5"]


def test_submit_failures_are_recorded_not_fatal(agent):
    test = _test(agent, sites=1, fail_submit=1.0)
    agent.loop_once(T0)
    failed = _jobs(test, JobState.FAILED)
    assert len(failed) == 3
    assert failed[0].reason == "submit failed: simulated submit failure"


def test_poll_failures_leave_jobs_unchanged(agent):
    test = _test(agent, sites=1, fail_poll=1.0, run_seconds=0)
    agent.loop_once(T0)
    agent.loop_once(T0 + 5)
    assert {j.state for j in _jobs(test)} == {JobState.SUBMITTED.value}


def test_metrics_and_failures_from_fake_backend(agent):
    test = _test(agent, sites=1, run_seconds=0, failure_rate=1.0, exit_code=7)
    agent.loop_once(T0)
    agent.loop_once(T0 + 5)
    failed = _jobs(test, JobState.FAILED)
    assert failed and all(j.exit_code == 7 and j.reason == "simulated failure" for j in failed)


def test_local_timeout_and_metrics(agent):
    command = 'echo \'{"events": 5, "name": "x"}\' > "$HC_METRICS_FILE"; sleep 30'
    test = _test(agent, sites=1, backend="local", command=command)
    Test.update(timeout=1, start_at=0).where(Test.id == test.id).execute()
    now = time.time()
    agent.loop_once(now)
    agent.loop_once(now + 2)
    failed = _jobs(test, JobState.FAILED)
    assert len(failed) == 3 and failed[0].reason == "timeout after 1 s"


def test_local_job_outcome_cpu_and_metrics(agent):
    command = 'echo \'{"events": 5, "name": "x"}\' > "$HC_METRICS_FILE"; exit 0'
    test = _test(agent, sites=1, backend="local", command=command)
    agent.loop_once(time.time())
    time.sleep(0.5)
    agent.loop_once(time.time() + 2)
    done = _jobs(test, JobState.COMPLETED)
    assert done, [j.state for j in _jobs(test)]
    assert done[0].metrics == {"events": 5} and done[0].exit_code == 0
    assert done[0].cpu_seconds is not None and done[0].wall_seconds is not None


def test_interrupted_submissions_are_adopted_or_marked_lost(agent, settings):
    """An agent died between writing job rows and handing them to the backend."""
    test = _test(agent, sites=1, backend="local")
    Test.update(state=TestState.RUNNING.value).where(Test.id == test.id).execute()
    test_site = TestSite.get(TestSite.test == test.id)
    specs, unwritten = jobbook.create_pending(test, test_site, test_site.site, 2, T0,
                                              agent.host, settings.work_dir)
    assert not unwritten
    # The first one was started (its wrapper wrote a pid file), the second never was.
    process = subprocess.Popen(["sleep", "30"], cwd=specs[0].work_dir, start_new_session=True)
    with open(os.path.join(specs[0].work_dir, "pid"), "w") as handle:
        handle.write(str(process.pid))
    try:
        agent.loop_once(T0)
        adopted, vanished = Job.get_by_id(specs[0].job_id), Job.get_by_id(specs[1].job_id)
        assert adopted.state == JobState.RUNNING.value
        assert adopted.backend_id == str(process.pid)
        assert vanished.state == JobState.LOST.value
        assert "stopped before the job was handed to the backend" in vanished.reason
    finally:
        process.kill()
        process.wait()


def test_an_ended_test_leaves_no_timers_behind(agent):
    """Otherwise the agent would wake up for polls that will never happen."""
    test = _test(agent, run_seconds=3600)
    agent.loop_once(T0)
    assert agent.loop_once(T0 + 0.1) > 0.5
    agent.loop_once(test.end_at)
    assert agent.loop_once(test.end_at + 1) == agent.config.submit_interval


def test_the_wait_to_the_next_poll_counts_the_iterations_own_length(agent, monkeypatch):
    """A site polled every second is polled every second, not every second plus
    however long an iteration took (at 100,000 jobs that was half a second more)."""
    from appliance.backends.fake import FakeBackend
    _test(agent, sites=1, run_seconds=3600)
    agent.loop_once(T0)  # submits; the first poll is due at T0 + 1
    real = FakeBackend.poll

    def slow(self, jobs):
        time.sleep(0.4)
        return real(self, jobs)
    monkeypatch.setattr(FakeBackend, "poll", slow)
    wait = agent.loop_once(T0 + 1)  # polls for 0.4 s; the next poll is due at T0 + 2
    assert 0.3 < wait <= 0.62


def test_sites_keep_their_order_until_a_submission_is_cut_short(agent, monkeypatch):
    """Each site polled at the same point of every iteration; after the pace cut one
    short, the next iteration begins with the next site."""
    _test(agent, sites=3, run_seconds=0)
    served = []
    real = SubmitAgent._serve_site

    def noting(self, test, test_site, site, now):
        served.append(site.id)
        return real(self, test, test_site, site, now)
    monkeypatch.setattr(SubmitAgent, "_serve_site", noting)
    for step in range(3):
        agent.loop_once(T0 + 5 * step)
    first = served[:3]
    assert served == first * 3, "no cut: the same order"
    served.clear()
    monkeypatch.setattr(agent._pace, "allowed", lambda wanted, cycle: min(wanted, 1))
    agent.loop_once(T0 + 20)  # every site gets one of its three jobs: cut
    agent.loop_once(T0 + 25)
    assert served == first + first[1:] + first[:1]
