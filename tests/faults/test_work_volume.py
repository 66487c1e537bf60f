"""A full or read-only work area: no false `lost` rows, no starved sites, one line
in the test log, the problem on the index and in /metrics, and jobs resume by
themselves when the volume recovers."""
from __future__ import annotations

import os
import time

from appliance.agents.submit import SubmitAgent
from appliance.models import Agent, Job, TestLog
from appliance.web import create_app
from tests.factories import make_running_test, make_site, make_template
from tests.faults.conftest import fill, remount


def _agent(settings, volume, min_free):
    return SubmitAgent(settings.replace(poll_interval=0.1, work_dir=volume,
                                        work_min_free=min_free))


def _test(agent, sites=2):
    template = make_template(sites=[make_site(backend="local") for _ in range(sites)],
                             command="true", load={"max_running": 3})
    return make_running_test(template, agent.host, time.time(), duration=3600)


def _log(test, text):
    return [line.message for line in TestLog.select().where(TestLog.test == test.id)
            if text in line.message]


def test_below_the_free_space_limit_no_jobs_are_made_until_space_returns(
        db, settings, small_volume):
    agent = _agent(settings, small_volume, min_free=1024 * 1024)
    test = _test(agent)
    agent.loop_once(time.time())
    assert Job.select().where(Job.test == test.id).count() == 6
    fill(small_volume, leave=256 * 1024)
    for _ in range(20):
        agent.loop_once(time.time())
        time.sleep(0.05)
    jobs = list(Job.select().where(Job.test == test.id))
    assert len(jobs) == 6, "no job made below the limit"
    assert {j.state for j in jobs} == {"completed"}, "the running ones were still recorded"
    assert len(_log(test, "below HC_WORK_MIN_FREE")) == 1, "said once, not per iteration"
    agent.heartbeat.start(time.time())
    agent.heartbeat.beat(time.time(), agent.load(), force=True, problem=agent.problem)
    assert "HC_WORK_MIN_FREE" in Agent.get(Agent.host == agent.host).problem
    web = create_app(settings).test_client()  # what an operator sees
    assert "HC_WORK_MIN_FREE" in web.get("/").get_data(as_text=True)
    metrics = web.get("/metrics").get_data(as_text=True)
    assert f'hc_agent_problem{{role="submit",host="{agent.host}"}} 1' in metrics, metrics
    os.remove(os.path.join(small_volume, "filler"))
    agent.loop_once(time.time())
    assert agent.problem is None
    assert Job.select().where(Job.test == test.id).count() == 12, "resumed by itself"
    assert len(_log(test, "jobs resume")) == 1
    assert not Job.select().where(Job.state == "lost").exists()


def test_a_failing_folder_write_fails_that_job_with_its_cause_never_lost(
        db, settings, small_volume):
    agent = _agent(settings, small_volume, min_free=0)
    test = _test(agent)
    agent.loop_once(time.time())  # the test's work area exists
    remount(small_volume, "ro")
    try:
        for _ in range(5):
            agent.loop_once(time.time())
            time.sleep(0.05)
    finally:
        remount(small_volume, "rw")
    failed = list(Job.select().where(Job.test == test.id, Job.state == "failed"))
    assert failed and all("Read-only file system" in j.reason for j in failed)
    assert {j.site_id for j in failed} == {j.site_id for j in Job.select()}, \
        "each site kept trying: none starved by another's failure"
    fill(small_volume, leave=0)
    agent.loop_once(time.time())
    assert not Job.select().where(Job.state == "lost").exists()
    full = Job.select().where(Job.test == test.id, Job.reason.contains("No space left"))
    assert full.exists()
    os.remove(os.path.join(small_volume, "filler"))
    time.sleep(0.3)
    for _ in range(10):
        agent.loop_once(time.time())
        time.sleep(0.05)
    assert Job.select().where(Job.test == test.id, Job.state == "completed").count() >= 6
    assert not Job.select().where(Job.state == "lost").exists()
