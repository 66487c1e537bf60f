"""Site checks: each backend says whether it can run jobs; failures are stored,
shown, and warned about when a stress test aims at such a site."""
from __future__ import annotations

import time

from appliance import lifecycle
from appliance.models import Site, TestLog
from appliance.sitecheck import check_and_record, check_due
from tests.backends.docker_case import DockerCase
from tests.backends.slurm_cluster import SlurmCase
from tests.factories import make_site, make_template


def test_local_and_fake_sites_pass(db):
    for backend in ("local", "fake"):
        ok, message = check_and_record(make_site(backend=backend))
        assert ok and message


def test_unreachable_docker_daemon_fails_clearly(db):
    site = make_site(backend="docker", base_url="unix:///nonexistent/docker.sock")
    ok, message = check_and_record(site)
    assert not ok and "Docker daemon" in message
    site = Site.get_by_id(site.id)
    assert site.check_ok is False and site.checked_at


def test_reachable_docker_daemon_passes(db):
    DockerCase().ensure()
    ok, message = check_and_record(make_site(backend="docker"))
    assert ok and message.startswith("Docker ")


def test_slurm_partition_must_exist(db):
    SlurmCase().ensure()
    assert check_and_record(make_site(backend="slurm", partition="debug"))[0]
    ok, message = check_and_record(make_site(backend="slurm", partition="gpu"))
    assert not ok and "partition gpu not found; the cluster has debug" in message


def test_checks_run_when_due_and_stress_tests_warn(db):
    broken = make_site(backend="docker", base_url="unix:///nonexistent/docker.sock")
    assert check_due("host", 300, time.time()) == 1
    assert check_due("host", 300, time.time()) == 0, "not again before the interval"
    template = make_template(sites=[Site.get_by_id(broken.id)])
    test = lifecycle.create_test(template, time.time(), time.time() + 60, owner="ann")
    assert any("failed its last check" in w for w in test.warnings)
    assert TestLog.select().where(TestLog.test == test.id, TestLog.severity == "warning").count()


