"""The Docker backend with a real registry: pulls by digest under each pull
policy, one pull shared by many jobs, and the registry's reason when it fails."""
from __future__ import annotations

import itertools
import os

import pytest

from appliance.backends import BackendError, make_backend, pulls
from appliance.states import JobState
from tests.backend_cases import make_spec, wait_final
from tests.conftest import free_port

_names = itertools.count(1)


@pytest.fixture
def shared(monkeypatch):
    fresh = pulls.SharedPulls()
    monkeypatch.setattr(pulls, "SHARED", fresh)
    return fresh


def _away(registry, version="v1") -> str:
    """A registry image by digest that the daemon does not have yet."""
    name = f"hc-test/pull-{os.getpid()}-{next(_names)}:{version}"
    return registry.push_away(f"hc-test/payload-registry:{version}", name)


def _backend(**settings):
    return make_backend("docker", {"poll_interval": 0.2, **settings}, "test-host")


def test_many_jobs_of_one_digest_make_one_pull(tmp_path, registry, pushed_images, shared):
    image = _away(registry)
    backend = _backend()
    specs = [make_spec(tmp_path, "cat /marker; id -u", image=image) for _ in range(5)]
    jobs = {backend.submit(spec): spec.work_dir for spec in specs}
    assert shared.pulls == 1
    statuses = wait_final(backend, jobs, timeout=90)
    for backend_id, folder in jobs.items():
        assert statuses[backend_id].state is JobState.COMPLETED
        assert statuses[backend_id].extra["image_digest"] == image, "the registry's digest"
        with open(os.path.join(folder, "stdout")) as handle:
            assert handle.read() == "v1\n10001\n"


def test_pull_policies(tmp_path, registry, pushed_images, shared):
    image = _away(registry)
    with pytest.raises(BackendError, match=r"not on the Docker host .*pull: never"):
        _backend(pull="never").submit(make_spec(tmp_path, "true", image=image))
    assert shared.pulls == 0
    started = {}

    def submit(policy: str) -> None:
        spec = make_spec(tmp_path, "true", image=image)
        started[_backend(pull=policy).submit(spec)] = spec.work_dir

    submit("if-not-present")
    submit("if-not-present")
    assert shared.pulls == 1, "present: not pulled again"
    shared.forget(f"default {image}")
    submit("always")
    assert shared.pulls == 2, "always: pulled although present"
    submit("never")
    statuses = wait_final(_backend(), started, timeout=90)
    assert {s.state for s in statuses.values()} == {JobState.COMPLETED}


def test_a_failed_pull_gives_the_registrys_reason_once(tmp_path, registry, pushed_images,
                                                       shared):
    missing = f"{registry.address}/hc-test/payload@sha256:{'0' * 64}"
    backend = _backend()
    for _ in range(3):
        with pytest.raises(BackendError, match=f"pull of {missing} failed: .*manifest unknown"):
            backend.submit(make_spec(tmp_path, "true", image=missing))
    assert shared.pulls == 1, "the failure is shared too"
    dead = f"127.0.0.1:{free_port()}/hc-test/payload@{pushed_images['v1']}"
    with pytest.raises(BackendError, match="connection refused"):
        backend.submit(make_spec(tmp_path, "true", image=dead))


def test_site_credentials_are_used_for_a_private_registry(tmp_path, pushed_images, shared):
    from tests.registry_server import LocalRegistry

    server = LocalRegistry("site", "site-secret-1").start()
    try:
        image = server.push_away("hc-test/payload-registry:v2", f"private/p{os.getpid()}:v2")
        with pytest.raises(BackendError, match="pull of .* failed") as refused:
            _backend().submit(make_spec(tmp_path, "true", image=image))
        assert "site-secret-1" not in str(refused.value)
        shared.forget(f"default {image}")
        backend = _backend(registry_auth_file=server.auth_file())
        spec = make_spec(tmp_path, "cat /marker", image=image)
        status = wait_final(backend, {backend.submit(spec): spec.work_dir})
        assert [s.state for s in status.values()] == [JobState.COMPLETED]
    finally:
        server.stop()
