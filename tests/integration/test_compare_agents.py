"""Comparisons of tests the real agents ran: two stress tests on the local backend, run
side by side (the same machine load for both), whose payload sleeps longer at site-2 in
the second. The compare page, `hc compare` and `hc run --baseline` all find site-2, and
only site-2, worse."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from appliance import config
from appliance.db import database, open_database, upgrade
from appliance.models import Job, Test
from appliance.states import TestState
from appliance.web import create_app
from tests.integration.harness import Appliance, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SITES = ["site-1", "site-2", "site-3"]
# The same command for both tests; only SLOW_SITE differs. Job N sleeps 300-599 ms
# (600 more at the slow site), the same N the same time in both tests: spread like real
# jobs, so that the few milliseconds by which one test's jobs start later than the
# other's (both run on this machine at once) stay far below the spread. With a fixed
# sleep those milliseconds alone were a significant difference at another site.
COMMAND = ('n=${PWD##*-}; ms=$(( 300 + (n * 119) % 300 )); '
           'case "$PWD" in */"$SLOW_SITE"/*) ms=$(( ms + 600 ));; esac; '
           'sleep "$(( ms / 1000 )).$(printf %03d $(( ms % 1000 )))"; '
           'echo \'{"phase:exec": 1, "events_per_s": 50}\' > "$HC_METRICS_FILE"')


def _document(name: str, slow: str, duration: str = "14s") -> dict:
    return {"name": name, "duration": duration, "sites": SITES,
            "load": {"max_running": 4},
            "job": {"command": COMMAND, "timeout": "1m", "environment": {"SLOW_SITE": slow}}}


@pytest.fixture
def instance(tmp_path):
    appliance = Appliance(str(tmp_path / "data"))
    appliance.hc("db", "upgrade")
    open_database(f"sqlite:///{tmp_path}/data/hc.sqlite")
    upgrade()
    yield appliance
    codes = appliance.stop_all()
    database.close()
    database.initialize(None)
    assert all(code == 0 for code in codes.values()), appliance.logs()


def _worse_sites(rows: list[dict]) -> set[str]:
    return {row["site"] for row in rows if row["verdict"] == "worse"}


def test_the_slower_site_and_only_it_is_worse(instance, tmp_path):
    for site in SITES:
        instance.hc("site", "add", site, "--backend", "local")
    for name, slow in (("before", "none"), ("after", "site-2")):
        instance.hc("template", "add", "-", stdin=json.dumps(_document(name, slow)))
    instance.start("server", "server")
    instance.start("submit", "submit")
    for name in ("before", "after"):
        instance.hc("test", "create", name, "--approve")
    before, after = (t.id for t in Test.select().order_by(Test.id))
    wait_for(lambda: all(Test.get_by_id(i).state == TestState.COMPLETED.value
                         for i in (before, after)), 60, what="both tests completed")

    done = Job.select().where(Job.test == after, Job.state == "completed")
    assert all(job.worker and job.worker["host"] for job in done)  # the wrapper's record
    client = create_app(config.load(instance.environ)).test_client()
    reply = client.get(f"/api/v1/compare?a=test:{before}&b=test:{after}")
    assert reply.status_code == 200
    rows = reply.get_json()["rows"]
    assert _worse_sites(rows) == {"site-2"}, [r for r in rows if r["verdict"] != "no "
                                               "significant difference"]
    assert any(r["site"] == "site-2" and r["figure"] == "wall" and r["verdict"] == "worse"
               for r in rows)
    page = client.get(f"/compare?a=test:{before}&b=test:{after}")
    assert page.status_code == 200 and b"verdict-worse" in page.data

    shown = instance.hc("compare", f"test:{before}", f"test:{after}").stdout
    assert "worse: site-2 wall" in shown
    assert not any(f"{s} " in shown.split("worse:", 1)[1].split("\n")[0]
                   for s in ("site-1", "site-3"))

    export = tmp_path / "before.json"
    export.write_text(instance.hc("test", "export", str(before)).stdout)
    run = _hc_run(tmp_path, _document("ci-after", "site-2"), export)
    assert run.returncode == 1, run.stdout + run.stderr
    # This test ran after the baseline, alone, so the machine's load differed: other
    # sites' small shifts may be significant too, only site-2's must be (the claim
    # "only site-2" belongs to the side-by-side comparison above).
    verdict_line = next(line for line in run.stdout.splitlines()
                        if line.startswith("all not significantly worse"))
    assert "significantly worse: " in verdict_line and "site-2 wall (median" in verdict_line
    junit = (tmp_path / "junit.xml").read_text()
    assert "compared with baseline test" in junit and "site-2 wall: worse" in junit


def _hc_run(tmp_path, document: dict, baseline) -> subprocess.CompletedProcess:
    document = document | {"site_definitions": [{"name": s, "backend": "local"} for s in SITES]}
    path = tmp_path / "after.json"
    path.write_text(json.dumps(document))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")}
    return subprocess.run([sys.executable, "-m", "appliance", "run", str(path), "--wait",
                           "--baseline", str(baseline), "--junit", "junit.xml"],
                          capture_output=True, text=True, timeout=180, env=environ,
                          cwd=tmp_path)
