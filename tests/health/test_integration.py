"""Site health end to end: server and submit agents as real processes, fake
backend sites whose settings are switched to failing and back at run time.

One site fails -> excluded at the next evaluation, event and webhook recorded;
it passes again -> re-included. Then every site fails at once -> the breaker
holds, no site is excluded, an incident is open. Finally a replay at the
recorded evaluation times gives the decisions the live server made.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import peewee as pw
import pytest

from appliance.db import database, open_database, upgrade
from appliance.health import policy as policy_module
from appliance.health import replay, store
from appliance.models import (
    HealthEvaluation,
    Incident,
    JobTemplate,
    Site,
    SiteEvent,
    Template,
    TemplateSite,
)

pytestmark = pytest.mark.integration
SITES = ("S0", "S1", "S2", "S3")
HEALTHY = {"run_seconds": 0.2, "poll_interval": 0.2, "failure_rate": 0.0}
BROKEN = HEALTHY | {"failure_rate": 1.0, "failure_reason": "cvmfs unreachable",
                    "exit_code": 70}


def _policy() -> str:
    source = policy_module.default_source()
    return source.replace("interval: 5m", "interval: 1s").replace("settle: 1m", "settle: 2s")


@pytest.fixture
def appliance(tmp_path):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("HC_")} | {
        "HC_DATA_DIR": str(tmp_path / "data"), "HC_HOSTNAME": "it-host",
        "HC_SERVER_INTERVAL": "0.3", "HC_SUBMIT_INTERVAL": "0.2", "HC_SUMMARY_INTERVAL": "2",
        "HC_HEARTBEAT_INTERVAL": "0.5", "HC_AGENT_DEAD_AFTER": "10", "HC_LOG_LEVEL": "info"}
    url = f"sqlite:///{tmp_path}/data/hc.sqlite"
    open_database(url)
    upgrade()
    sites = [Site.create(name=n, backend="fake", backend_settings=HEALTHY) for n in SITES]
    for name in ("fa", "fb"):
        job = JobTemplate.create(name=name, command="true")
        template = Template.create(name=name, category="functional", job_template=job,
                                   max_running=1, duration=3600)
        TemplateSite.insert_many([dict(template=template, site=s) for s in sites]).execute()
    store.load_policy(_policy(), "test")
    logs = {role: (tmp_path / f"{role}.log").open("w") for role in ("server", "submit")}
    agents = [subprocess.Popen([sys.executable, "-m", "appliance", role], env=environ,
                               stdout=logs[role], stderr=subprocess.STDOUT)
              for role in ("server", "submit")]
    try:
        yield tmp_path
    finally:
        for agent in agents:
            agent.send_signal(signal.SIGTERM)
        for agent in agents:
            try:
                agent.wait(timeout=15)
            except subprocess.TimeoutExpired:
                agent.kill()
        for handle in logs.values():
            handle.close()
        database.close()
        database.initialize(None)


def _set(names, settings) -> None:
    Site.update(backend_settings=settings).where(Site.name.in_(names)).execute()


def _wait(condition, what: str, timeout: float = 40.0, folder=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.2)
    logs = "".join((folder / f"{r}.log").read_text()[-3000:] for r in ("server", "submit")) \
        if folder else ""
    pytest.fail(f"timed out waiting for {what}\n{logs}")


def _failures(name: str, since: float) -> int:
    from appliance.models import Job
    return (Job.select().join(Site).where(Site.name == name, Job.state == "failed",
                                          Job.ended_at > since).count())


def _status(name: str) -> str:
    return Site.get(Site.name == name).status


def test_exclusion_recovery_and_breaker_with_real_agents(appliance, receiver):
    from appliance.health import webhooks
    webhooks.add(receiver.url, "test")
    _wait(lambda: all(v == "healthy" for v in _verdicts().values()), "every site judged "
          "healthy", folder=appliance)
    _set(["S0"], BROKEN)
    _wait(lambda: _status("S0") == "excluded", "S0 excluded", folder=appliance)
    event = SiteEvent.get(SiteEvent.new_status == "excluded")
    assert event.automatic and event.rule and event.evidence
    assert all(e["reason"] == "cvmfs unreachable" for e in event.evidence)
    post = _wait(lambda: [p for p in receiver.received if p["body"]["site"] == "S0"],
                 "the webhook call", folder=appliance)[0]
    assert post["body"]["new_status"] == "excluded" and post["body"]["id"] == event.id
    assert [_status(n) for n in SITES[1:]] == ["online"] * 3

    _set(["S0"], HEALTHY)
    _wait(lambda: _status("S0") == "online", "S0 re-included", folder=appliance)
    _wait(lambda: len(receiver.received) >= 2, "the second webhook call", folder=appliance)

    # A central failure: every site fails. Evaluations pause while it spreads, so that
    # one evaluation sees it whole (the agents poll the sites one after the other,
    # and a live evaluation in between would see only the first site failing).
    store.load_policy(_policy().replace("interval: 1s", "interval: 1h"), "test")
    broken_at = time.time()
    _set(SITES, BROKEN)
    _wait(lambda: all(_failures(n, broken_at) >= 6 for n in SITES), "every site failing",
          folder=appliance)
    time.sleep(2.5)  # past the policy's settle time
    store.load_policy(_policy(), "test")
    incident = _wait(lambda: Incident.get_or_none(Incident.state == "open"), "an incident",
                     folder=appliance)
    time.sleep(2.5)  # a few more evaluations: still held
    assert [_status(n) for n in SITES] == ["online"] * 4
    assert SiteEvent.select().where(SiteEvent.new_status == "excluded").count() == 1
    assert set(Incident.get_by_id(incident.id).sites) >= {"S1", "S2", "S3"}
    _compare_with_replay()


def _verdicts() -> dict:
    from appliance.health import live
    return {n: v.kind for n, v in live.dry_run(time.time())[1].verdicts.items()}


def _compare_with_replay() -> None:
    # Up to the last evaluation fully recorded: the server is still running.
    end = HealthEvaluation.select(pw.fn.MAX(HealthEvaluation.at)).scalar()
    live_decisions = [(e.at, e.site.name, e.new_status, e.rule,
                       sorted(x["job"] for x in e.evidence))
                      for e in SiteEvent.select().where(SiteEvent.automatic, SiteEvent.at <= end)
                      .order_by(SiteEvent.at)]
    version, policy = store.active_policy()
    start = min(d[0] for d in live_decisions) - 60
    result = replay.replay(policy, start, end, replay.recorded_times(start, end))
    assert [(d.at, d.site, d.new, d.rule, sorted(d.jobs)) for d in result.decisions] \
        == live_decisions
    assert result.incidents and result.held_evaluations >= 1
