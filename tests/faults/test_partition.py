"""A node cut off from the database loses its test to another node: the new owner
does not declare the old node's local jobs lost (it cannot see another
container's processes) and counts them against the load; the old node, back,
records what it knows and kills what it no longer owns; no site ever runs more
jobs than its knobs allow."""
from __future__ import annotations

import time

import pytest

from appliance.agents import jobbook
from appliance.agents.lease import Lease, LeaseLost, take_over
from appliance.agents.submit import SubmitAgent
from appliance.models import Job, Test, TestLog, TestSite
from tests.factories import make_running_test, make_site, make_template, save_template


def _node(settings, name):
    return SubmitAgent(settings.replace(poll_interval=0.1, hostname=name))


def _blind(agent, site):
    """The node's local backend sees only its own processes, as in its own container."""
    backend = agent._backend(site)
    backend._alive = lambda pid, folder: pid in backend._children
    return backend


def _active(test):
    return len(jobbook.active_jobs(test.id))


def test_a_takeover_never_doubles_the_load_and_the_old_node_settles_its_jobs(db, settings):
    old, new = _node(settings, "node-a"), _node(settings, "node-b")
    site = make_site(backend="local")
    test = make_running_test(make_template(sites=[site], command="sleep 30",
                                           load={"max_running": 2}), "node-a", time.time())
    old.loop_once(time.time())
    assert _active(test) == 2
    _blind(new, site)
    # The server's takeover while node-a cannot reach the database.
    Test.update(submit_host="node-b").where(Test.id == test.id).execute()
    for _ in range(4):
        new.loop_once(time.time())
        time.sleep(0.15)
    assert not Job.select().where(Job.state == "lost").exists(), "not declared lost"
    assert Job.select().count() == 2, "counted against the load: no replacements yet"
    # node-a comes back (within one look of its jobs left behind): it must not add
    # load to a test it no longer holds.
    old.loop_once(time.time() + 10)
    states = {j.state for j in Job.select().where(Job.submit_host == "node-a")}
    assert states == {"killed"}
    assert all("moved to node-b" in j.reason for j in Job.select())
    assert Job.select().count() == 2
    assert TestLog.select().where(TestLog.message.contains("node-a is back")).count() == 1
    new.loop_once(time.time())
    assert _active(test) == 2 and Job.select().count() == 4, "replacements, never above"
    for job in jobbook.active_jobs(test.id):
        new._backend(site).kill({job.backend_id: job.work_dir})


def test_the_old_nodes_jobs_that_ended_meanwhile_keep_their_outcome(db, settings):
    old, new = _node(settings, "node-a"), _node(settings, "node-b")
    site = make_site(backend="local")
    test = make_running_test(make_template(sites=[site], command="sleep 0.3",
                                           load={"max_running": 2, "resubmit": False}),
                             "node-a", time.time())
    old.loop_once(time.time())
    _blind(new, site)
    Test.update(submit_host="node-b").where(Test.id == test.id).execute()
    time.sleep(0.8)  # they exit 0; their status files are on the shared work volume
    new.loop_once(time.time())
    assert {j.state for j in Job.select()} == {"completed"}


def test_a_lease_read_before_a_takeover_writes_nothing_even_when_the_test_comes_back(db,
                                                                                   settings):
    site = make_site(backend="local")
    test = make_running_test(make_template(sites=[site], command="sleep 30",
                                           load={"max_running": 2}), "node-a", time.time())
    stale = Lease.of(Test.get_by_id(test.id))
    assert take_over(test.id, "node-a", "node-b") and take_over(test.id, "node-b", "node-a")
    test_site = TestSite.get(TestSite.test == test.id)
    with pytest.raises(LeaseLost):
        jobbook.create_pending(Test.get_by_id(test.id), test_site, site, 2, time.time(),
                               "node-a", settings.work_dir, stale)
    assert Job.select().count() == 0
    assert TestSite.get_by_id(test_site.id).jobs_created == 0


def test_jobs_the_new_owner_cannot_see_are_lost_only_after_their_timeout(db, settings):
    old, new = _node(settings, "node-a"), _node(settings, "node-b")
    site = make_site(backend="local")
    template = save_template({"name": "short-timeout", "sites": [site.name],
                              "load": {"max_running": 1},
                              "job": {"command": "sleep 30", "timeout": 2}})
    test = make_running_test(template, "node-a", time.time())
    old.loop_once(time.time())
    (job,) = jobbook.active_jobs(test.id)
    _blind(new, site)
    Test.update(submit_host="node-b", lease=Test.lease + 1).where(Test.id == test.id).execute()
    new.loop_once(time.time())
    assert Job.get_by_id(job.id).state == "running", "counted, not lost"
    assert Job.select().count() == 1
    time.sleep(2.2)
    new.loop_once(time.time())
    lost = Job.get_by_id(job.id)
    assert lost.state == "lost" and "submitted by node-a" in lost.reason
    assert "timeout (2 s) passed" in lost.reason
    # node-a is back: the process it alone could see must not run on.
    old.loop_once(time.time() + 10)
    assert not old._backend(site)._alive(int(job.backend_id), job.work_dir)
    for other in jobbook.active_jobs(test.id):
        new._backend(site).kill({other.backend_id: other.work_dir})
