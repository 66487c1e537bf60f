"""A batch command that hangs (a stand-in `sbatch` on PATH) costs its own site a
timeout and a back-off, shown in the test log once; the other sites and tests go on."""
from __future__ import annotations

import os
import time

from appliance.agents.submit import SubmitAgent
from appliance.models import Job, TestLog
from tests.factories import make_running_test, make_site, make_template


def test_a_hanging_sbatch_delays_neither_other_sites_nor_other_tests(
        db, settings, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for command in ("sbatch", "squeue", "scontrol", "scancel", "sinfo"):
        (bin_dir / command).write_text("#!/bin/sh\nexec sleep 60\n")
        (bin_dir / command).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
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
    slurm_jobs = list(Job.select().where(Job.site == slurm.id))
    assert not [j for j in slurm_jobs if j.state == "lost"]
