"""A job that asks for a container image runs in it or not at all: a site that cannot run
images (a local site, a Slurm site without a container runtime) is refused when the test is
created, and a job that reaches it anyway fails with the reason instead of running its
command on the bare host."""
from __future__ import annotations

import pytest

from appliance import creation
from appliance.backends import BackendError, image_refusal, make_backend
from appliance.backends.slurm import SlurmBackend
from appliance.errors import FieldErrors
from appliance.lifecycle import create_test
from appliance.models import Test
from appliance.registry import ImageRefused
from tests.backend_cases import make_spec
from tests.factories import make_site, make_template

IMAGE = "hc-test/busybox:1"


def _no_calls(argv):
    raise AssertionError(f"nothing may run: {argv}")


@pytest.mark.parametrize("backend,settings", [("local", {}), ("slurm", {})])
def test_a_job_with_an_image_never_runs_bare(tmp_path, backend, settings):
    site = make_backend(backend, settings) if backend == "local" else \
        SlurmBackend(settings, "host", run=_no_calls)
    spec = make_spec(tmp_path, "touch ran-bare", image=IMAGE)
    with pytest.raises(BackendError, match="cannot run here: .*"):
        site.submit(spec)
    assert not (tmp_path / f"job-{spec.job_id}" / "ran-bare").exists()


def test_which_sites_run_images(db):
    assert image_refusal(make_site(backend="fake")) is None
    assert image_refusal(make_site(backend="docker")) is None
    assert image_refusal(make_site(backend="slurm", container_runtime="podman")) is None
    assert "container runtime" in image_refusal(make_site(backend="slurm"))
    assert "not container images" in image_refusal(make_site(backend="local"))


def test_creation_refuses_a_site_that_cannot_run_the_image(db):
    bare = make_site("bare-slurm", backend="slurm")
    fine = make_site("podman-slurm", backend="slurm", container_runtime="podman")
    template = make_template("with-image", sites=[bare, fine], job={"command": "true",
                                                                    "image": IMAGE})
    with pytest.raises(ImageRefused, match="site bare-slurm cannot run it"):
        create_test(template, 1e9, 1e9 + 60, owner="alice")
    assert create_test(template, 1e9, 1e9 + 60, owner="alice", sites=[fine]).image == IMAGE
    with pytest.raises(FieldErrors) as refused:
        creation.parse_test_request({"template": "with-image", "sites": ["bare-slurm"]},
                                    admin=True)
    assert "bare-slurm" in refused.value.errors["image"]
    assert Test.select().count() == 1, "nothing made by the refusals"


def test_arc_sites_run_images_through_their_runtime_only():
    from appliance.backends.arc import ArcBackend
    assert ArcBackend.image_refusal({"container_runtime": "podman"}) is None
    assert "container runtime" in ArcBackend.image_refusal({"container_runtime": None})
