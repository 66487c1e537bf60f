"""`hc run --url`: a running instance (gunicorn and the real agents) driven
through its API with tokens: an admin's run is judged, a plain user's waits for
approval, a bad token or template stops with exit code 2."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from appliance.models import Test
from tests.conftest import free_port
from tests.integration.harness import running_appliance, wait_for
from tests.integration.test_run import RUN_FILE

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    data = tmp_path_factory.mktemp("remote") / "data"
    with running_appliance(str(data), HC_WEB_BIND=f"127.0.0.1:{free_port()}",
                           HC_WEB_WORKERS="1") as appliance:
        appliance.hc("user", "add", "root", "--role", "admin", "--password-stdin",
                     stdin="root-password\n")
        appliance.hc("user", "add", "carol", "--password-stdin", stdin="carol-password\n")
        appliance.admin = appliance.hc("token", "add", "root", "--name", "ci").stdout.strip()
        appliance.user = appliance.hc("token", "add", "carol").stdout.strip()
        # The run file's sites and template, as an operator would have set them up.
        for site in RUN_FILE["site_definitions"]:
            settings = [f"--set={k}={v}" for k, v in site.get("settings", {}).items()]
            appliance.hc("site", "add", site["name"], "--backend", site["backend"], *settings)
        template = {k: v for k, v in RUN_FILE.items() if k != "site_definitions"}
        appliance.hc("template", "add", "-", stdin=json.dumps(template))
        for role in ("server", "submit", "web"):
            appliance.start(role, role)
        appliance.url = "http://" + appliance.environ["HC_WEB_BIND"]
        wait_for(lambda: _up(appliance.url), 20, what="the web UI")
        yield appliance


def _up(url: str) -> bool:
    import urllib.request
    try:
        return urllib.request.urlopen(url + "/healthz", timeout=2).status == 200
    except OSError:
        return False


def hc_run(tmp_path, token: str, *argv: str) -> subprocess.CompletedProcess:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(RUN_FILE))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
    environ["HC_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "appliance", "run", *argv], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env=environ)


def test_admin_token_runs_a_file_and_is_judged(instance, tmp_path):
    passing = hc_run(tmp_path, instance.admin, "run.json", "--url", instance.url, "--wait",
                     "--threshold", "site:ci-a:efficiency>=0.99", "--junit", "junit.xml")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert f"created in {instance.url} (as root)" in passing.stdout
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite.get("failures") == "0"
    failing = hc_run(tmp_path, instance.admin, "ci-check", "--url", instance.url,
                     "--duration", "3s", "--wait", "--threshold", "site:ci-b:failed==0")
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "verdict: FAIL (exit 1)" in failing.stdout


def test_a_users_token_creates_a_test_that_waits_for_approval(instance, tmp_path):
    result = hc_run(tmp_path, instance.user, "ci-check", "--url", instance.url)
    assert result.returncode == 0, result.stderr
    assert "waits for an admin's approval" in result.stdout
    test = wait_for(lambda: Test.get_or_none(Test.owner == "carol"), 5, what="carol's test")
    assert test.state == "unapproved"
    refused = hc_run(tmp_path, instance.user, "run.json", "--url", instance.url)
    assert refused.returncode == 2 and "only an admin" in refused.stderr


def test_bad_token_url_or_template_exit_2(instance, tmp_path):
    before = Test.select().count()
    for token, argv, message in (
            ("hc_wrong", ["ci-check", "--url", instance.url], "token"),
            ("", ["ci-check", "--url", instance.url], "HC_TOKEN"),
            (instance.admin, ["no-such-template", "--url", instance.url], "no template named"),
            (instance.admin, ["ci-check", "--url", "127.0.0.1:1"], "must start with http"),
            (instance.admin, ["ci-check", "--url", f"http://127.0.0.1:{free_port()}"],
             "cannot reach")):
        result = hc_run(tmp_path, token, *argv)
        assert result.returncode == 2, (argv, result.stdout, result.stderr)
        assert message in result.stderr, (argv, result.stderr)
    assert Test.select().count() == before, "nothing was created"
