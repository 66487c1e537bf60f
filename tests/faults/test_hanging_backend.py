"""A batch command that hangs (a stand-in `sbatch` on PATH) costs its own site a
timeout and a back-off, shown in the test log once; the other sites and tests go on."""
from __future__ import annotations

import os
import time

from appliance.agents.submit import SubmitAgent
from appliance.models import Job, Site, TestLog
from tests.factories import make_running_test, make_site, make_template

SLURM_COMMANDS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo", "sacct")


def _slurm_stand_ins(tmp_path, monkeypatch, body: str) -> None:
    """Every Slurm command on PATH replaced by a script running `body`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for command in SLURM_COMMANDS:
        (bin_dir / command).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / command).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


def test_a_hanging_sbatch_delays_neither_other_sites_nor_other_tests(
        db, settings, tmp_path, monkeypatch):
    _slurm_stand_ins(tmp_path, monkeypatch, "exec sleep 60")
    agent = SubmitAgent(settings.replace(poll_interval=0.1, backend_timeout=1.0))
    slurm, fake = make_site(backend="slurm"), make_site(run_seconds=0)
    mixed = make_running_test(make_template(sites=[slurm, fake], load={"max_running": 2}),
                              agent.host, time.time())
    other = make_running_test(make_template(sites=[make_site(run_seconds=0)],
                                            load={"max_running": 2}), agent.host, time.time())
    started = time.monotonic()
    for _ in range(8):
        agent.loop_once(time.time())
        time.sleep(0.15)
    took = time.monotonic() - started
    assert took < 6, f"one timeout ({took:.1f} s), then the site is backed off"
    for test, site in ((mixed, fake), (other, None)):
        query = Job.select().where(Job.test == test.id, Job.state == "completed")
        if site:
            query = query.where(Job.site == site.id)
        assert query.count() >= 4, "the other sites and tests kept working"
    backed_off = [line.message for line in TestLog.select().where(TestLog.test == mixed.id)
                  if "backing off" in line.message]
    assert len(backed_off) == 1 and "sbatch timed out after 1 s" in backed_off[0]
    shown = Site.get_by_id(slurm.id)  # on the index, the site page and the API
    # The back-off, or the site check's own timeout if it ran since: failed either way.
    assert shown.check_ok is False and "timed out" in shown.check_message
    slurm_jobs = list(Job.select().where(Job.site == slurm.id))
    assert not [j for j in slurm_jobs if j.state == "lost"]


def test_a_takeover_whose_recovery_keeps_failing_costs_only_those_jobs(
        db, settings, tmp_path, monkeypatch):
    """The new owner of a taken-over test re-adopts another node's interrupted Slurm
    submissions (rows without a batch id) and recover() raises: every Slurm command is
    a stand-in that answers like a controller that cannot be reached. The agent asks
    again a few times, then records those jobs lost with the backend's reason; it never
    stops, and the other test goes on meanwhile."""
    from appliance.agents import jobbook
    from appliance.agents.submit import KILL_ATTEMPTS
    from appliance.models import Test, TestSite

    _slurm_stand_ins(tmp_path, monkeypatch,
                     "echo 'slurm_load_jobs error: Unable to contact slurm controller "
                     "(connect failure)' >&2\nexit 1")
    agent = SubmitAgent(settings.replace(poll_interval=0.1, backend_timeout=2.0))
    slurm = make_site(backend="slurm")
    moved = make_running_test(make_template(sites=[slurm], load={"max_running": 2}),
                              agent.host, time.time(), job_cap=2)
    # What the node that died left: two rows committed, folders made, no batch id.
    test_site = TestSite.get(TestSite.test == moved.id, TestSite.site == slurm.id)
    specs, unwritten = jobbook.create_pending(moved, test_site, slurm, 2, time.time(),
                                              "dead-node", settings.work_dir)
    assert len(specs) == 2 and not unwritten
    other = make_running_test(make_template(sites=[make_site(run_seconds=0)],
                                            load={"max_running": 2}), agent.host, time.time())
    for _ in range(3 * KILL_ATTEMPTS):
        agent.loop_once(time.time())
        if all(j.state == "lost" for j in Job.select().where(Job.test == moved.id)):
            break
        time.sleep(0.1)
    left = list(Job.select().where(Job.test == moved.id))
    assert len(left) == 2, "the job cap holds: no replacements beyond it"
    for job in left:
        assert job.state == "lost", (job.state, job.reason)
        assert "could not be recovered from slurm" in job.reason
        assert "Unable to contact slurm controller" in job.reason
    # Its cap reached and every job final: the test ends instead of staying in submitting.
    assert Test.get_by_id(moved.id).state == "completed"
    done = Job.select().where(Job.test == other.id, Job.state == "completed").count()
    assert done >= 4, "the other test kept working"


def test_the_heartbeat_stays_fresh_while_an_iteration_waits_on_a_hanging_site(
        db, settings, tmp_path, monkeypatch):
    """The runner writes the heartbeat from its own thread: an iteration that waits
    on a hanging sbatch (up to the backend timeout) does not make the agent look dead."""
    import threading

    from appliance.agents.runner import Runner
    from appliance.models import Agent

    _slurm_stand_ins(tmp_path, monkeypatch, "exec sleep 60")
    agent = SubmitAgent(settings.replace(poll_interval=0.1, backend_timeout=4.0,
                                         heartbeat_interval=0.2))
    make_running_test(make_template(sites=[make_site(backend="slurm")],
                                    load={"max_running": 2}), agent.host, time.time())
    runner = Runner(agent)
    running = threading.Thread(target=runner.run, daemon=True)
    running.start()
    try:
        deadline, oldest = time.monotonic() + 5, 0.0
        while time.monotonic() < deadline:
            beat = Agent.select(Agent.heartbeat_at).where(Agent.host == agent.host).scalar()
            if beat is not None:
                oldest = max(oldest, time.time() - beat)
            time.sleep(0.1)
    finally:
        runner.stopping.set()
        running.join(timeout=20)
    assert beat is not None and oldest < 1.5, f"heartbeat {oldest:.1f} s old during the hang"
