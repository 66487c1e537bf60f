"""A stress test over a Docker site and a Slurm site through the real agents, with
the submit agent killed (-9) and restarted in the middle."""
from __future__ import annotations

import json
import subprocess

import pytest

from appliance.models import Job, Site, Test
from tests.backends.docker_case import IMAGE, DockerCase
from tests.backends.slurm_cluster import SlurmCase
from tests.integration.harness import running_appliance, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PAYLOAD = 'sleep 1; echo \'{"ok": 1}\' > "$HC_METRICS_FILE"; exit 0'


@pytest.fixture
def appliance(tmp_path):
    DockerCase().ensure()
    SlurmCase().ensure()  # before the harness copies the environment (SLURM_CONF)
    with running_appliance(str(tmp_path / "data")) as instance:
        yield instance


def test_docker_and_slurm_sites_survive_a_killed_agent(appliance):
    appliance.hc("site", "add", "dock", "--backend", "docker", "--set", "poll_interval=0.3")
    appliance.hc("site", "add", "batch", "--backend", "slurm", "--set", "poll_interval=0.3",
                 "--set", "partition=debug")
    # The Docker site runs the image; the Slurm site, without a container runtime, runs
    # the command itself (an image would be refused there).
    for name, site, image in (("real-docker", "dock", IMAGE), ("real-batch", "batch", None)):
        job = {"command": PAYLOAD} | ({"image": image} if image else {})
        template = {"name": name, "duration": "20s", "sites": [site],
                    "load": {"max_running": 2}, "job": job}
        appliance.hc("template", "add", "-", stdin=json.dumps(template))
    appliance.start("server", "server")
    appliance.start("submit", "submit", host="real-node")
    for name in ("real-docker", "real-batch"):
        appliance.hc("test", "create", name, "--approve")
    wait_for(lambda: Job.select().where(Job.state == "completed").count() >= 4, 40,
             what="first jobs done")
    appliance.kill("submit")
    appliance.start("submit", "submit", host="real-node")
    wait_for(lambda: all(t.state == "completed" for t in Test.select()), 60, what="completed")
    by_site = {site.name: list(Job.select().where(Job.site == site.id))
               for site in Site.select()}
    for name, jobs in by_site.items():
        done = [job for job in jobs if job.state == "completed"]
        assert len(done) >= 4, (name, [(j.state, j.reason) for j in jobs])
        assert all(job.exit_code == 0 and job.metrics == {"ok": 1} for job in done)
        assert all(job.state in ("completed", "killed", "lost") for job in jobs)
        # Lost only what the kill caught between its row and the backend: at most the
        # jobs of one creation (max_running), each saying so.
        lost = [job for job in jobs if job.state == "lost"]
        assert len(lost) <= 2 and all("before the job was handed to the backend" in job.reason
                                      for job in lost), [(j.id, j.reason) for j in lost]
    assert all(job.image_digest.startswith("sha256:") for job in by_site["dock"]
               if job.state == "completed")
    waits = [job.started_at - job.submitted_at for job in by_site["batch"]
             if job.state == "completed"]
    assert all(wait >= 0 for wait in waits), "queue waits recorded"
    leftovers = subprocess.run(["docker", "ps", "-aq", "--filter",
                                "label=org.hc-appliance.host=real-node"],
                               capture_output=True, text=True).stdout.split()
    assert leftovers == [], "every container was collected or killed"
    queue = subprocess.run(["squeue", "-h"], capture_output=True, text=True).stdout
    assert queue.strip() == "", "no Slurm job left behind"
