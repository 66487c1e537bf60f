"""A stress test on a Docker site through the real agents, with a kill -9 in the middle."""
from __future__ import annotations

import json
import subprocess

import pytest

from appliance.db import database, open_database
from appliance.models import Job, Test
from tests.backends.docker_case import IMAGE, DockerCase
from tests.integration.harness import Appliance, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def appliance(tmp_path):
    DockerCase().ensure()
    instance = Appliance(str(tmp_path / "data"))
    instance.hc("db", "upgrade")
    open_database(f"sqlite:///{tmp_path}/data/hc.sqlite")
    yield instance
    instance.stop_all()
    database.close()
    database.initialize(None)


def test_docker_site_stress_test_with_agent_killed(appliance):
    appliance.hc("site", "add", "dock", "--backend", "docker", "--set", "poll_interval=0.3")
    template = {"name": "containers", "duration": "15s", "sites": ["dock"],
                "load": {"max_running": 3},
                "job": {"command": 'sleep 1; echo \'{"ok": 1}\' > "$HC_METRICS_FILE"; exit 0',
                        "image": IMAGE}}
    appliance.hc("template", "add", "-", stdin=json.dumps(template))
    appliance.start("server", "server")
    appliance.start("submit", "submit", host="dock-node")
    appliance.hc("test", "create", "containers", "--approve")
    wait_for(lambda: Job.select().where(Job.state == "completed").count() >= 3, 30,
             what="first containers done")
    appliance.kill("submit")
    appliance.start("submit", "submit", host="dock-node")
    wait_for(lambda: Test.get().state == "completed", 40, what="completed")
    jobs = list(Job.select())
    done = [job for job in jobs if job.state == "completed"]
    assert len(done) >= 9
    assert all(job.exit_code == 0 and job.metrics == {"ok": 1} and
               job.image_digest.startswith("sha256:") for job in done)
    assert all(job.state in ("completed", "killed", "lost") for job in jobs)
    assert len([job for job in jobs if job.state == "lost"]) <= 1
    leftovers = subprocess.run(["docker", "ps", "-aq", "--filter",
                                "label=org.hc-appliance.host=dock-node"],
                               capture_output=True, text=True).stdout.split()
    assert leftovers == [], "every container was collected or killed"
