"""Users' images from a real registry through the real agents: a stress test on a
Docker site and on a Slurm site (podman) runs its image by digest while the tag
moves, and tests whose image is missing or whose registry is down fail their own
jobs with the registry's reason and nothing else."""
from __future__ import annotations

import json
import os

import pytest

from appliance.models import Job, Site, Test
from appliance.registry import parse_reference
from appliance.registry import pin as resolve_tag
from tests.backends.docker_case import DockerCase
from tests.backends.podman_case import ensure_podman, podman_site
from tests.backends.slurm_cluster import SlurmCase
from tests.conftest import free_port
from tests.integration.harness import running_appliance, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]
# The payload says which image it is in: its metrics carry the version in /marker.
PAYLOAD = 'm=$(cat /marker); sleep 1; echo "{\\"version\\": ${m#v}}" > "$HC_METRICS_FILE"'


@pytest.fixture
def appliance(tmp_path, registry, pushed_images):
    DockerCase().ensure()
    ensure_podman()
    SlurmCase().ensure()  # before the harness copies the environment (SLURM_CONF)
    with running_appliance(str(tmp_path / "data")) as instance:
        instance.hc("site", "add", "dock", "--backend", "docker", "--set", "poll_interval=0.3")
        instance.hc("site", "add", "batch", "--backend", "slurm",
                    *[f"--set={k}={json.dumps(v)}" for k, v in podman_site().items()])
        yield instance


def _template(appliance, name: str, image: str, duration: str = "25s", **load) -> None:
    document = {"name": name, "duration": duration, "sites": ["dock", "batch"],
                "load": {"max_running": 2, **load}, "job": {"command": PAYLOAD, "image": image}}
    appliance.hc("template", "add", "-", stdin=json.dumps(document))


def _jobs(test_id: int) -> dict[str, list[Job]]:
    return {site.name: list(Job.select().where(Job.site == site.id, Job.test == test_id))
            for site in Site.select()}


def test_a_stress_test_keeps_its_digest_while_the_tag_moves(appliance, registry,
                                                             pushed_images):
    tag = f"hc-test/payload:stress-{os.getpid()}"
    first = registry.push("hc-test/payload-registry:v1", tag)
    _template(appliance, "by-tag", f"{registry.address}/{tag}")
    missing = f"{registry.address}/hc-test/payload@sha256:{'0' * 64}"
    _template(appliance, "missing", missing, job_cap=3)
    dead = f"127.0.0.1:{free_port()}/hc-test/payload@sha256:{'1' * 64}"
    _template(appliance, "dead", dead, job_cap=3)
    _template(appliance, "dead-tag", f"127.0.0.1:{free_port()}/hc-test/payload:v1")
    refused = appliance.hc("test", "create", "dead-tag", "--approve", check=False)
    assert refused.returncode == 2 and "not reachable" in refused.stderr, refused.stderr
    assert Test.select().count() == 0, "a tag that cannot be resolved creates no test"
    appliance.start("server", "server")
    appliance.start("submit", "submit", host="registry-node")
    for name in ("by-tag", "missing", "dead"):
        appliance.hc("test", "create", name, "--approve")
    good = Test.get(Test.image.startswith(f"{registry.address}/hc-test/payload@"))
    pinned = f"{registry.address}/hc-test/payload@{first}"
    assert good.image == pinned, "the tag was resolved at creation"
    wait_for(lambda: all(len([j for j in jobs if j.state == "completed"]) >= 2
                         for jobs in _jobs(good.id).values()), 60, what="first jobs done")
    moved = registry.push("hc-test/payload-registry:v2", tag)
    assert moved == pushed_images["v2"] != first
    assert resolve_tag(f"{registry.address}/{tag}")[1] == moved, "the tag now names v2"
    wait_for(lambda: Test.get_by_id(good.id).state == "completed", 60, what="completed")
    for site, jobs in _jobs(good.id).items():
        done = [job for job in jobs if job.state == "completed"]
        assert len(done) >= 4, (site, [(j.state, j.reason) for j in jobs])
        assert all(job.state in ("completed", "killed") for job in jobs), site
        assert {job.image_digest for job in done} == {pinned}, site
        assert all(job.metrics == {"version": 1} for job in done), "never the moved tag"
    wait_for(lambda: Test.select().where(Test.state != "completed").count() == 0, 60,
             what="every test ended")
    for test_image, reason in ((missing, "manifest unknown"), (dead, "connection refused")):
        test = Test.get(Test.image == test_image)
        for site, jobs in _jobs(test.id).items():
            failed = [job for job in jobs if job.state == "failed"]
            assert failed and all(reason in job.reason for job in failed), (site, reason, [
                (job.state, job.reason) for job in jobs])
            assert all(job.state in ("failed", "killed") for job in jobs), site
    assert parse_reference(good.image).digest == first
