"""`hc run` end to end on a throwaway local instance: pass, fail, misspelt."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

pytestmark = pytest.mark.integration

RUN_FILE = {
    "name": "ci-check", "duration": "4s", "sites": ["ci-a", "ci-b"],
    "site_definitions": [{"name": "ci-a", "backend": "local"},
                         # Every ci-b job fails: a threshold on its failures must fail
                         # however few jobs a slow machine gets through.
                         {"name": "ci-b", "backend": "fake",
                          "settings": {"run_seconds": 0.3, "failure_rate": 1.0,
                                       "poll_interval": 0.5}}],
    "load": {"max_running": 2},
    "job": {"command": 'sleep 0.2; echo \'{"events_per_s": 60}\' > "$HC_METRICS_FILE"'},
}


def hc_run(tmp_path, *argv):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(RUN_FILE))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
    return subprocess.run([sys.executable, "-m", "appliance", "run", str(path), *argv],
                          capture_output=True, text=True, timeout=120, env=environ,
                          cwd=tmp_path)


def test_passing_run_exits_0_with_junit_and_report(tmp_path):
    result = hc_run(tmp_path, "--wait", "--threshold", "site:ci-a:efficiency>=0.99",
                    "--threshold", "mean(metric:events_per_s)>=50", "--threshold",
                    "site:ci-a:p95(wall)<=5s", "--junit", "junit.xml", "--report", "report.html")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verdict: PASS (exit 0)" in result.stdout
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    names = [case.get("name") for case in suite.iter("testcase")]
    assert names == ["test 1 completes", "ci-a", "ci-b", "site:ci-a:efficiency>=0.99",
                     "mean(metric:events_per_s)>=50", "site:ci-a:p95(wall)<=5s"]
    assert suite.get("failures") == "0" and suite.get("tests") == "6"
    report = (tmp_path / "report.html").read_text()
    assert "<svg" in report and "<script" not in report and "<link" not in report
    assert not re.search(r"""(?:src|href)=["'](?:https?:)?//""", report), "external asset"


def test_failing_threshold_exits_1_and_junit_says_why(tmp_path):
    result = hc_run(tmp_path, "--wait", "--threshold", "site:ci-b:failed==0",
                    "--junit", "junit.xml")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "verdict: FAIL (exit 1)" in result.stdout
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    failures = {case.get("name"): case.find("failure") for case in suite.iter("testcase")}
    assert failures["site:ci-b:failed==0"] is not None
    assert "FAILS" in failures["site:ci-b:failed==0"].get("message")
    assert failures["ci-b"] is not None and failures["ci-a"] is None


def test_misspelt_threshold_exits_2_before_anything_runs(tmp_path):
    started = time.monotonic()
    result = hc_run(tmp_path, "--wait", "--threshold", "p95(wal)<=3s")
    assert result.returncode == 2
    assert "unknown field 'wal'" in result.stderr
    assert time.monotonic() - started < 5
    assert "created" not in result.stdout


def test_threshold_on_a_site_outside_the_test_exits_2(tmp_path):
    result = hc_run(tmp_path, "--wait", "--threshold", "site:elsewhere:failed==0")
    assert result.returncode == 2 and "site 'elsewhere' is not in the test" in result.stderr
