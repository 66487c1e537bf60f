"""Slurm jobs in the test's image through podman on the worker, with a real
registry: by digest, isolated like Docker payloads, pull failures with the
registry's reason, and a site check that finds (or misses) the runtime."""
from __future__ import annotations

import dataclasses
import itertools
import os

import pytest

from appliance.backends import make_backend
from appliance.states import JobState
from tests.backend_cases import make_spec, wait_final
from tests.backends.podman_case import ensure_podman, podman_site
from tests.backends.slurm_cluster import slurm_cluster
from tests.conftest import free_port
from tests.registry_server import build_image

_names = itertools.count(1)


@pytest.fixture(scope="module")
def cluster():
    ensure_podman()
    return slurm_cluster()


def _image(registry) -> str:
    return registry.push_away("hc-test/payload-registry:v1",
                              f"hc-test/slurm-{os.getpid()}-{next(_names)}:v1")


def _run(tmp_path, image, command, **settings):
    backend = make_backend("slurm", podman_site(**settings), "test-host")
    spec = make_spec(tmp_path, command, image=image)
    backend_id = backend.submit(spec)
    return spec, wait_final(backend, {backend_id: spec.work_dir}, timeout=60)[backend_id]


def test_a_job_runs_in_the_image_by_digest(cluster, tmp_path, registry, pushed_images):
    image = _image(registry)
    spec, status = _run(tmp_path, image, 'cat /marker; echo "$GREETING"; '
                        'printf \'{"n": 2}\' > "$HC_METRICS_FILE"')
    assert status.state is JobState.COMPLETED, status.reason
    assert status.extra["image_digest"] == image
    with open(os.path.join(spec.work_dir, "stdout")) as handle:
        assert handle.read() == "v1\nhello\n"
    with open(spec.metrics_file) as handle:
        assert handle.read() == '{"n": 2}'


# Printed by the payload: who it is, its network, its processes, its folders and
# variables. Nothing of the agents (their processes, environment, files) is there.
PROBE = ('id -u; echo ==; ls /sys/class/net; echo ==; ls /proc | grep -c "^[0-9]"; echo ==; '
         'ls /; echo ==; env; echo ==; ls "$HC_JOB_DIR/.."; echo ==; '
         'wget -q -T 2 -O - http://{registry}/v2/ && echo reached || echo unreachable')


def test_payload_isolation_under_podman(cluster, tmp_path, registry, pushed_images,
                                        monkeypatch):
    monkeypatch.setenv("HC_DATABASE_URL", "postgresql://agent:agent-secret@db/hc")
    image = _image(registry)
    spec, status = _run(tmp_path, image, PROBE.format(registry=registry.address))
    assert status.state is JobState.COMPLETED, status.reason
    with open(os.path.join(spec.work_dir, "stdout")) as handle:
        user, nets, processes, root, env, siblings, network = handle.read().split("==\n")
    assert user.strip() == "10001", "never root"
    assert nets.split() == ["lo"], "no network interface but loopback"
    assert network.strip().endswith("unreachable")
    assert int(processes) <= 5, "only the payload's own processes"
    assert "work" not in root.split() and "marker" in root.split(), "the image's files"
    assert "agent-secret" not in env and "SLURM_" not in env and "HC_JOB_ID=" in env
    assert siblings.split() == [os.path.basename(spec.work_dir)], "only its own folder"


def test_network_when_the_template_or_the_site_asks(cluster, tmp_path, registry,
                                                    pushed_images):
    image = _image(registry)
    spec, status = _run(tmp_path, image, "ls /sys/class/net", network=True)
    assert status.state is JobState.COMPLETED, status.reason
    with open(os.path.join(spec.work_dir, "stdout")) as handle:
        assert len(handle.read().split()) >= 2, "the site gives every payload a network"
    backend = make_backend("slurm", podman_site(), "test-host")
    spec = dataclasses.replace(make_spec(tmp_path, "ls /sys/class/net", image=image),
                               network=True)
    status = wait_final(backend, {backend.submit(spec): spec.work_dir}, timeout=60)
    assert [s.state for s in status.values()] == [JobState.COMPLETED]
    with open(os.path.join(spec.work_dir, "stdout")) as handle:
        assert len(handle.read().split()) >= 2, "the template asked for one"


def test_missing_image_and_dead_registry_fail_with_the_reason(cluster, tmp_path, registry,
                                                               pushed_images):
    missing = f"{registry.address}/hc-test/payload@sha256:{'0' * 64}"
    _, status = _run(tmp_path, missing, "echo never")
    assert status.state is JobState.FAILED
    assert "image not available" in status.reason and "manifest unknown" in status.reason
    # (a digest the worker has already runs from any registry name: same content)
    dead = f"127.0.0.1:{free_port()}/hc-test/payload@sha256:{'1' * 64}"
    _, status = _run(tmp_path, dead, "echo never")
    assert status.state is JobState.FAILED and "connection refused" in status.reason
    unique = f"never-{os.getpid()}-{next(_names)}"  # content no worker has yet
    image = registry.push_away(build_image(f"hc-test/payload-registry:{unique}", unique),
                               f"hc-test/{unique}:v1")
    _, status = _run(tmp_path, image, "true", pull="never")
    assert status.state is JobState.FAILED and "never pulls" in status.reason


def test_site_check_finds_the_runtime_on_a_worker(cluster):
    message = make_backend("slurm", podman_site(), "test-host").check()
    assert "on a worker: podman version" in message
    missing = make_backend("slurm", podman_site(runtime_path="/nonexistent/podman"))
    with pytest.raises(Exception, match="not usable on the workers: .*not found on worker"):
        missing.check()
