"""The final wave: a job whose outcome is knowable is recorded as it ended, even
when the end time passed while the agent was down; an outcome learnt after a job
was given up corrects the record, once, in the test log."""
from __future__ import annotations

import time

from appliance.agents import jobbook
from appliance.agents.submit import SubmitAgent
from appliance.models import Job, Test, TestLog
from appliance.states import JobState, TestState
from tests.factories import make_running_test, make_site, make_template


def _local_test(agent, command, max_running=4):
    template = make_template(sites=[make_site(backend="local")], command=command,
                             load={"max_running": max_running, "resubmit": False})
    return make_running_test(template, agent.host, time.time(), duration=3600)


def test_jobs_that_ended_before_the_end_time_are_not_killed(db, settings):
    agent = SubmitAgent(settings.replace(poll_interval=0.1))
    done = _local_test(agent, "true")
    running = _local_test(agent, "sleep 60", max_running=2)
    agent.loop_once(time.time())
    time.sleep(1.0)  # the short jobs exit 0 meanwhile; no iteration runs (agent "down")
    for test in (done, running):
        Test.update(end_at=time.time() - 1).where(Test.id == test.id).execute()
    agent.loop_once(time.time())
    assert {j.state for j in Job.select().where(Job.test == done.id)} == {"completed"}
    assert all(j.exit_code == 0 for j in Job.select().where(Job.test == done.id))
    killed = list(Job.select().where(Job.test == running.id))
    assert len(killed) == 2 and {j.state for j in killed} == {"killed"}
    assert Test.get_by_id(done.id).state == TestState.COMPLETED.value


def test_a_late_status_corrects_a_killed_record_and_says_so(db, settings):
    agent = SubmitAgent(settings.replace(poll_interval=0.1))
    test = _local_test(agent, "true", max_running=3)
    agent.loop_once(time.time())
    time.sleep(0.5)
    # As if the kill had reached them just as they were writing their status.
    jobs = jobbook.active_jobs(test.id)
    jobbook.end_jobs(jobs, JobState.KILLED, "still active at the end of the test", time.time())
    for step in range(3):
        agent.loop_once(time.time() + 10 * step)
    states = {j.state for j in Job.select().where(Job.test == test.id)}
    assert states == {"completed"}
    corrections = [line.message for line in TestLog.select().where(TestLog.test == test.id)
                   if "record corrected" in line.message]
    assert len(corrections) == 1 and corrections[0].startswith("3 job(s)")


def test_a_lost_job_that_never_wrote_a_status_stays_lost(db, settings):
    agent = SubmitAgent(settings.replace(poll_interval=0.1))
    test = _local_test(agent, "sleep 60", max_running=1)
    agent.loop_once(time.time())
    (job,) = jobbook.active_jobs(test.id)
    agent._backend(Job.get_by_id(job.id).site).kill({job.backend_id: job.work_dir})
    for step in range(3):
        agent.loop_once(time.time() + 10 * step)
    assert Job.get_by_id(job.id).state == "lost"
