"""The site-health commands of `hc`, run in-process on a temporary database."""
from __future__ import annotations

import pytest
from worlds import NOW, World

from appliance.cli import main
from appliance.db import database, open_database, upgrade
from appliance.health import live
from appliance.health import policy as policy_module
from appliance.models import Incident, Site, SiteEvent


@pytest.fixture
def hc(tmp_path, monkeypatch, capsys):
    for name in [n for n in __import__("os").environ if n.startswith("HC_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HC_DATA_DIR", str(tmp_path / "data"))
    open_database(f"sqlite:///{tmp_path}/data/hc.sqlite")
    upgrade()

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        database.connect(reuse_if_open=True)  # the command may have replaced the connection
        out, err = capsys.readouterr()
        return code, out, err
    yield run
    database.close()
    database.initialize(None)


def test_policy_show_load_and_line_numbered_errors(hc, tmp_path):
    code, out, _ = hc("policy", "show")
    assert code == 0 and "policy version 1 (atlas-default)" in out and "guard: 6h" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(policy_module.default_source().replace("window: 4h", "window: soon"))
    code, _, err = hc("policy", "load", str(bad))
    assert code == 2 and "line 12: window: 'soon' is not a duration" in err
    code, _, err = hc("policy", "check", str(tmp_path / "missing.yaml"))
    assert code == 2 and "No such file" in err
    good = tmp_path / "good.yaml"
    good.write_text(policy_module.default_source().replace("guard: 6h", "guard: 2h"))
    assert hc("policy", "check", str(good))[0] == 0
    code, out, _ = hc("policy", "load", str(good))
    assert code == 0 and "version 2" in out
    code, out, _ = hc("policy", "list")
    assert out.count("atlas-default") == 2
    assert "guard: 2h" in hc("policy", "show")[1]
    assert "guard: 6h" in hc("policy", "show", "--version", "1")[1]


def test_pin_opt_out_events_and_health(hc):
    world = World()
    site = world.site("S0")
    fa = world.template("fa", [site])
    world.history(site, [fa], "FFF", NOW - 100, spacing=10)
    code, _, err = hc("site", "pin", "S0", "--reason", " ")
    assert code == 2 and "needs a reason" in err
    code, out, _ = hc("site", "pin", "S0", "--status", "excluded", "--reason", "disk full")
    assert code == 0 and "excluded, pinned (disk full)" in out
    code, _, err = hc("site", "set-status", "S0", "online", "--reason", "x")
    assert code == 2 and "pinned" in err
    assert hc("site", "unpin", "S0")[0] == 0
    assert hc("site", "opt-out", "S0", "--reason", "manual")[1].endswith("opted out\n")
    code, _, err = hc("site", "opt-out", "S0", "--reason", "again")
    assert code == 2 and "already" in err
    assert hc("site", "opt-in", "S0")[0] == 0
    assert hc("site", "set-status", "S0", "online", "--reason", "fixed")[0] == 0
    code, out, _ = hc("site", "events", "S0")
    assert [line.split()[2] for line in out.splitlines()[2:]] == [
        "status", "opt-in", "opt-out", "unpin", "status", "pin"]
    code, out, _ = hc("site", "health", "S0")
    assert "verdict        insufficient" in out or "verdict" in out
    assert hc("site", "pin", "nowhere", "--reason", "x")[2].startswith("hc: error: no site")


def test_replay_prints_exclusions_and_holds(hc, tmp_path):
    world = World()
    sites = [world.site(f"S{i}") for i in range(4)]
    fa = world.template("fa", sites)
    for site in sites:
        failing = [(NOW + 3600, NOW + 2 * 3600)] if site.name == "S0" else []
        world.timeline(site, [fa], NOW - 3600, NOW + 4 * 3600, failing=failing)
    import datetime as dt
    start = dt.datetime.fromtimestamp(NOW, dt.UTC).strftime("%Y-%m-%dT%H:%M")
    end = dt.datetime.fromtimestamp(NOW + 4 * 3600, dt.UTC).strftime("%Y-%m-%dT%H:%M")
    code, out, _ = hc("policy", "replay", "--from", start, "--to", end)
    assert code == 0 and "1 exclusions" in out and "S0" in out and "49 evaluations" in out
    assert "last-3-failed-in-one-template" in out and "breaker held exclusions in 0" in out
    loose = tmp_path / "loose.yaml"
    loose.write_text(policy_module.default_source().replace("{templates: 1, last: 3}",
                                                            "{templates: 1, last: 30}"))
    code, out, _ = hc("policy", "replay", "--from", start, "--to", end, "--policy", str(loose))
    assert code == 0 and "no exclusions" in out
    assert SiteEvent.select().count() == 0


def test_incident_and_webhook_commands(hc):
    world = World()
    sites = [world.site(f"S{i}") for i in range(3)]
    fa = world.template("fa", sites)
    for site in sites:
        world.history(site, [fa], "FFF", NOW - 100, spacing=10)
    live.evaluate_now(NOW)
    code, out, _ = hc("incident", "list")
    assert code == 0 and "open" in out and "share" in out
    incident = Incident.get()
    assert hc("incident", "release", str(incident.id))[0] == 0
    code, _, err = hc("incident", "release", str(incident.id))
    assert code == 2 and "only an open incident" in err
    assert "released" in hc("incident", "list", "--all")[1]
    assert hc("webhook", "add", "not a url")[0] == 2
    assert hc("webhook", "add", "http://127.0.0.1:9/hook")[0] == 0
    live.evaluate_now(NOW + 300)
    assert {s.status for s in Site.select()} == {"excluded"}
    code, out, _ = hc("webhook", "list")
    assert "pending 3" in out
    code, out, _ = hc("webhook", "deliveries")
    assert out.count("pending") == 3
    assert hc("webhook", "remove", "1")[0] == 0 and hc("webhook", "remove", "1")[0] == 2


def test_stress_test_on_excluded_site_warns_on_the_command_line(hc):
    from appliance.states import Category
    world = World()
    bad = world.site("bad", status="excluded")
    world.template("st", [bad], Category.STRESS)
    code, _, err = hc("test", "create", "st")
    assert code == 0 and "hc: warning: site bad is excluded" in err
