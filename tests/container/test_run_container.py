"""`hc run` against a throwaway container instance of the appliance image."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from tests.integration.test_run import RUN_FILE

pytestmark = [pytest.mark.container, pytest.mark.slow]  # the image is built first


# A container instance needs a few seconds more than local processes to get going.
CONTAINER_RUN_FILE = RUN_FILE | {"duration": "10s"}


def hc_run(tmp_path, image: str, *argv: str) -> tuple[subprocess.CompletedProcess, float]:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(CONTAINER_RUN_FILE))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "appliance", "run", str(path), "--instance",
                             "container", "--appliance-image", image, *argv],
                            capture_output=True, text=True, timeout=180, env=environ,
                            cwd=tmp_path)
    return result, time.monotonic() - started


def test_passing_and_failing_runs(app_image, tmp_path):
    passing, seconds = hc_run(tmp_path, app_image, "--wait", "--threshold",
                              "site:ci-a:efficiency>=0.99", "--junit", "pass.xml",
                              "--report", "report.html")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    print(f"hc run on a container instance: verdict after {seconds:.1f} s")
    assert "throwaway container instance" in passing.stdout
    suite = ET.parse(tmp_path / "pass.xml").getroot().find("testsuite")
    assert suite.get("failures") == "0" and suite.get("tests") == "4"
    failing, _ = hc_run(tmp_path, app_image, "--wait", "--threshold", "site:ci-b:failed==0",
                        "--junit", "fail.xml")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    suite = ET.parse(tmp_path / "fail.xml").getroot().find("testsuite")
    assert suite.get("failures") == "2"  # the threshold and its site
    leftovers = subprocess.run(["docker", "ps", "-aq", "--filter",
                                "label=org.hc-appliance.throwaway"], capture_output=True,
                               text=True).stdout.split()
    assert leftovers == [], "throwaway instances are removed"


def test_misspelt_threshold_starts_nothing(app_image, tmp_path):
    result, seconds = hc_run(tmp_path, app_image, "--wait", "--threshold", "efficency>=1")
    assert result.returncode == 2 and "unknown quantity 'efficency'" in result.stderr
    assert seconds < 5, "refused before any instance was started"


def test_user_image_on_a_docker_site_of_the_instance(app_image, tmp_path):
    """The CI use: a user's image runs as the payload on the instance's Docker site."""
    from tests.backends.docker_case import build_busybox_image

    user_image = build_busybox_image()
    run_file = {"name": "payload", "duration": "2m", "sites": ["ci-docker"],
                "site_definitions": [{"name": "ci-docker", "backend": "docker",
                                      "settings": {"poll_interval": 0.5}}],
                "load": {"max_running": 2, "job_cap": 4},
                "job": {"image": "placeholder:1", "command":
                        'echo \'{"events_per_s": 75}\' > "$HC_METRICS_FILE"'}}
    path = tmp_path / "payload.json"
    path.write_text(json.dumps(run_file))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
    result = subprocess.run(
        [sys.executable, "-m", "appliance", "run", str(path), "--instance", "container",
         "--appliance-image", app_image, "--image", user_image, "--wait",
         "--threshold", "completed==4", "--threshold", "mean(metric:events_per_s)>=50"],
        capture_output=True, text=True, timeout=180, env=environ, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: PASS" in result.stdout


def test_instance_up_prints_a_token_that_hc_run_url_uses(app_image, tmp_path):
    """The pipeline that keeps one instance for several runs: hc instance up, then
    hc run --url with its token, then hc instance down."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
    up = subprocess.run([sys.executable, "-m", "appliance", "instance", "up", "--image",
                         app_image], capture_output=True, text=True, timeout=120, env=environ)
    assert up.returncode == 0, up.stderr
    values = dict(line.split("=", 1) for line in up.stdout.splitlines() if "=" in line
                  and not line.startswith("#"))
    try:  # the instance goes down whatever fails below
        assert values["HC_TOKEN"].startswith("hc_") and values["HC_URL"].startswith("http://")
        path = tmp_path / "run.json"
        path.write_text(json.dumps(CONTAINER_RUN_FILE))
        run = subprocess.run([sys.executable, "-m", "appliance", "run", str(path), "--url",
                              values["HC_URL"], "--wait", "--threshold",
                              "site:ci-a:efficiency>=0.99"], capture_output=True, text=True,
                             timeout=120, env=environ | {"HC_TOKEN": values["HC_TOKEN"]})
        assert run.returncode == 0, run.stdout + run.stderr
        assert "(as admin)" in run.stdout
    finally:
        down = subprocess.run([sys.executable, "-m", "appliance", "instance", "down",
                               values["HC_INSTANCE"]], capture_output=True, text=True,
                              timeout=60, env=environ)
    assert down.returncode == 0, down.stderr
