"""Images on a grid site: an A-REX job runs the test's image through the site's
container runtime (podman, rootless as the CE's mapped account) with the job's
session folder as its only mount, no network, and the digest recorded; a pull
that fails fails the job with the registry's reason."""
from __future__ import annotations

import itertools
import os

import pytest

from appliance.backends import make_backend
from appliance.states import JobState
from tests.backend_cases import make_spec, wait_final
from tests.backends.arc_ce import arc_ce
from tests.backends.podman_case import PODMAN_OPTIONS, ensure_podman

pytestmark = pytest.mark.slow  # a CE job through A-REX's fork batch system and podman
_names = itertools.count(1)
# Who the payload is on the host, its network, what it sees around its folder.
PROBE = ('cat /marker; echo ==; cat /proc/self/uid_map; echo ==; ls /sys/class/net; echo ==; '
         'ls "$HC_JOB_DIR/.."; echo ==; pwd; printf \'{"n": 3}\' > "$HC_METRICS_FILE"')


@pytest.fixture(scope="module")
def ce():
    ensure_podman()
    return arc_ce("fork")


def _run(ce, tmp_path, image: str, command: str):
    settings = ce.site_settings(poll_interval=1.0, container_runtime="podman",
                                runtime_options=list(PODMAN_OPTIONS))
    backend = make_backend("arc", settings, "test-host")
    spec = make_spec(tmp_path, command, image=image)
    backend_id = backend.submit(spec)
    return spec, backend_id, wait_final(backend, {backend_id: spec.work_dir},
                                        timeout=120)[backend_id]


def test_an_arc_job_runs_its_image_with_only_its_session_folder(ce, tmp_path, registry,
                                                                  pushed_images):
    image = registry.push_away("hc-test/payload-registry:v1",
                               f"hc-test/arc-{os.getpid()}-{next(_names)}:v1")
    spec, backend_id, status = _run(ce, tmp_path, image, PROBE)
    assert status.state is JobState.COMPLETED, status.reason
    assert status.extra["image_digest"] == image, "the digest the runtime ran"
    with open(os.path.join(spec.work_dir, "stdout")) as handle:
        marker, uid_map, nets, siblings, folder = handle.read().split("==\n")
    assert marker.strip() == "v1"
    inside, host, _ = uid_map.split()
    assert host != "0", f"the payload is not root on the worker: {uid_map}"
    assert nets.split() == ["lo"], "no network unless asked"
    assert siblings.split() == [backend_id], "only the job's session folder is mounted"
    assert folder.strip().endswith(f"/{backend_id}"), "it runs in the session folder"
    with open(spec.metrics_file) as handle:
        assert handle.read() == '{"n": 3}'
    fetched = set(os.listdir(spec.work_dir))
    assert not fetched & {".local", ".config", ".run"}, "the runtime's storage stays on the worker"


def test_a_missing_image_fails_the_arc_job_with_the_registrys_reason(ce, tmp_path, registry,
                                                                     pushed_images):
    missing = f"{registry.address}/hc-test/payload@sha256:{'0' * 64}"
    _, _, status = _run(ce, tmp_path, missing, "true")
    assert status.state is JobState.FAILED
    assert "image not available" in status.reason and "manifest unknown" in status.reason, \
        status.reason
