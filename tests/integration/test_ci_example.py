"""examples/ci on this machine: the pipelines' script builds the example payload,
pushes it to a real registry and `hc run`s it by digest; JUnit and the HTML
report say which digest ran."""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.backends.docker_case import IMAGE, DockerCase

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_build_push_run_by_digest(tmp_path, registry):
    DockerCase().ensure()
    repository = f"{registry.address}/ci/payload"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
    environ.update(PAYLOAD_REPOSITORY=repository, PAYLOAD_TAG=f"commit-{os.getpid()}",
                   PAYLOAD_CONTEXT=os.path.join(ROOT, "examples/ci/payload"),
                   PAYLOAD_BASE_IMAGE=IMAGE, PAYLOAD_TEMPLATE=os.path.join(
                       ROOT, "examples/ci/payload-check.yaml"),
                   HC=f"{sys.executable} -m appliance")
    done = subprocess.run([os.path.join(ROOT, "examples/ci/build-push-run.sh"), "--duration",
                           "12s", "--threshold", "efficiency>=0.95", "--threshold",
                           "mean(metric:events_per_s)>=50"], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    digest = done.stdout.split(f"{repository}@")[1].split()[0]
    pinned = f"{repository}@{digest}"
    suite = ET.parse(tmp_path / "hc-junit.xml").getroot().find("testsuite")
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties == {"image": pinned, "image_run": pinned}
    assert suite.get("failures") == "0"
    report = (tmp_path / "hc-report.html").read_text()
    assert f"<code>{pinned}</code>" in report
    assert report.count(pinned) >= 2, "the image asked for and the one the jobs ran"


def test_a_failed_push_is_an_infrastructure_error(tmp_path):
    from tests.conftest import free_port

    DockerCase().ensure()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
    environ.update(PAYLOAD_REPOSITORY=f"127.0.0.1:{free_port()}/ci/payload", PAYLOAD_TAG="x",
                   PAYLOAD_CONTEXT=os.path.join(ROOT, "examples/ci/payload"),
                   PAYLOAD_BASE_IMAGE=IMAGE, HC=f"{sys.executable} -m appliance")
    done = subprocess.run([os.path.join(ROOT, "examples/ci/build-push-run.sh")], cwd=tmp_path,
                          env=environ, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "connection refused" in done.stderr, done.stderr
    assert not (tmp_path / "hc-junit.xml").exists()


def test_hc_run_with_a_tag_runs_its_digest(tmp_path, registry, pushed_images):
    DockerCase().ensure()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
    done = subprocess.run([sys.executable, "-m", "appliance", "run",
                           os.path.join(ROOT, "examples/ci/payload-check.yaml"), "--image",
                           f"{registry.address}/hc-test/payload:v2", "--duration", "3s",
                           "--wait", "--junit", "junit.xml", "--timeout", "2m"],
                          cwd=tmp_path, env=environ, capture_output=True, text=True,
                          timeout=180)
    pinned = f"{registry.address}/hc-test/payload@{pushed_images['v2']}"
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["image"] == pinned, done.stdout + done.stderr
