"""Live evaluation against the database: decisions, events, guard, pins,
the circuit breaker and its incidents."""
from __future__ import annotations

import pytest
from worlds import NOW

from appliance.health import events, live, store, views
from appliance.health.webhooks import add as add_webhook
from appliance.models import HealthEvaluation, Incident, Site, SiteEvent, WebhookDelivery

HOUR = 3600.0


def status(name: str) -> str:
    return Site.get(Site.name == name).status


@pytest.fixture
def grid(world):
    """Five sites, two critical templates covering all of them, all healthy."""
    sites = [world.site(f"S{i}") for i in range(5)]
    templates = [world.template("fa", sites), world.template("fb", sites)]
    for site in sites:
        world.history(site, templates, "CCC", NOW - 300)
    return world, sites, templates


def test_failing_site_is_excluded_with_event_and_evidence(grid):
    world, sites, (fa, fb) = grid
    add_webhook("http://127.0.0.1:9/unused", "test")
    bad = [world.job(sites[0], fa, "F", NOW - 200), world.job(sites[0], fa, "F", NOW - 150),
           world.job(sites[0], fa, "F", NOW - 100)]
    evaluation = live.evaluate_now(NOW)
    assert [(c.site, c.new) for c in evaluation.changes] == [("S0", "excluded")]
    assert status("S0") == "excluded" and status("S1") == "online"
    event = SiteEvent.get(SiteEvent.site == sites[0].id)
    assert (event.old_status, event.new_status, event.automatic) == ("online", "excluded", True)
    assert event.rule == "last-3-failed-in-one-template"
    assert event.actor == "policy v1" and event.policy_version == 1
    assert sorted(e["job"] for e in event.evidence) == sorted(j.id for j in bad)
    assert {e["template"] for e in event.evidence} == {"fa"}
    assert WebhookDelivery.select().where(WebhookDelivery.event == event.id).count() == 1
    record = HealthEvaluation.get()
    assert (record.judged, record.excluded, record.held) == (5, 1, 0)


def test_recovery_reincludes_and_guard_blocks_a_quick_second_exclusion(grid):
    world, sites, (fa, fb) = grid
    world.history(sites[0], [fa], "FFF", NOW - 100, spacing=10)
    live.evaluate_now(NOW)
    assert status("S0") == "excluded"
    world.history(sites[0], [fa, fb], "CC", NOW + HOUR, spacing=10)
    live.evaluate_now(NOW + HOUR + 120)
    assert status("S0") == "online"
    world.history(sites[0], [fa], "FFF", NOW + 2 * HOUR, spacing=10)
    guarded = live.evaluate_now(NOW + 2 * HOUR + 120)
    assert guarded.verdicts["S0"].kind == "guarded" and status("S0") == "online"
    world.history(sites[0], [fa], "FFF", NOW + 6 * HOUR + 60, spacing=10)
    live.evaluate_now(NOW + 6 * HOUR + 120)  # 6 h after the first exclusion
    assert status("S0") == "excluded"
    kinds = [(e.new_status, e.rule) for e in SiteEvent.select().order_by(SiteEvent.id)]
    assert kinds == [("excluded", "last-3-failed-in-one-template"), ("online", "include"),
                     ("excluded", "last-3-failed-in-one-template")]


def test_pin_and_opt_out_hold_against_the_automation(grid):
    world, sites, (fa, fb) = grid
    for site in sites[:2]:
        world.history(site, [fa], "FFF", NOW - 100, spacing=10)
    events.pin("S0", None, "site admins are on it", "cli:op", at=NOW - 50)
    events.set_automation("S1", False, "manual control", "cli:op", at=NOW - 50)
    evaluation = live.evaluate_now(NOW)
    assert (evaluation.verdicts["S0"].kind, evaluation.verdicts["S1"].kind) == (
        "pinned", "opted-out")
    assert status("S0") == status("S1") == "online"
    with pytest.raises(events.SiteChangeRefused, match="pinned"):
        events.set_status("S0", "offline", "maintenance", "cli:op")
    events.unpin("S0", "cli:op", at=NOW + 10)
    live.evaluate_now(NOW + 20)
    assert status("S0") == "excluded" and status("S1") == "online"


def test_pin_to_a_status_is_an_event_and_is_kept(grid):
    world, sites, (fa, fb) = grid
    events.pin("S2", "excluded", "broken storage", "cli:op", at=NOW - 10)
    live.evaluate_now(NOW)  # its jobs are fine, yet it stays excluded
    assert status("S2") == "excluded"
    kinds = [(e.kind, e.new_status) for e in SiteEvent.select().order_by(SiteEvent.id)]
    assert kinds == [("pin", "excluded"), ("status", "excluded")]


def test_breaker_holds_mass_exclusion_and_incident_closes_when_failures_stop(grid):
    world, sites, (fa, fb) = grid
    for site in sites:
        world.history(site, [fa], "FFF", NOW - 100, spacing=10, reason="cvmfs unreachable")
    evaluation = live.evaluate_now(NOW)
    assert evaluation.trip.trigger == "share" and len(evaluation.held) == 5
    assert all(status(s.name) == "online" for s in sites)
    assert SiteEvent.select().count() == 0
    incident = Incident.get()
    assert incident.state == "open" and set(incident.sites) == {s.name for s in sites}
    assert views.overview(NOW)["open_incidents"][0]["id"] == incident.id
    live.evaluate_now(NOW + 300)  # still failing: still held
    assert Incident.get().state == "open" and all(status(s.name) == "online" for s in sites)
    for site in sites:
        world.history(site, [fa], "CC", NOW + 400, spacing=10)
    live.evaluate_now(NOW + 600)
    incident = Incident.get()
    assert incident.state == "closed" and incident.closed_at == NOW + 600
    assert HealthEvaluation.select().where(HealthEvaluation.held > 0).count() == 2


def test_signature_trips_the_breaker_below_the_share(world):
    sites = [world.site(f"S{i}") for i in range(12)]
    fa = world.template("fa", sites)
    for site in sites:
        world.history(site, [fa], "CCC", NOW - 300)
    for site in sites[:3]:  # 3 of 12 = 25 %, but the same exit code
        world.history(site, [fa], "FFF", NOW - 100, spacing=10, exit_code=139,
                      reason=f"crash on {site.name}")
    evaluation = live.evaluate_now(NOW)
    assert evaluation.trip.trigger == "signature"
    assert Incident.get().signature == "exit_code=139"


def test_release_lets_exclusions_through_then_the_incident_closes(grid):
    world, sites, (fa, fb) = grid
    for site in sites:
        world.history(site, [fa], "FFF", NOW - 100, spacing=10)
    live.evaluate_now(NOW)
    incident = Incident.get()
    with pytest.raises(ValueError, match="no incident"):
        store.release_incident(99, "cli:op")
    store.release_incident(incident.id, "cli:op", at=NOW + 10)
    with pytest.raises(ValueError, match="released"):
        store.release_incident(incident.id, "cli:op")
    live.evaluate_now(NOW + 300)
    assert all(status(s.name) == "excluded" for s in sites)
    assert Incident.get().state == "released"
    for site in sites:
        world.history(site, [fa, fb], "CC", NOW + 400, spacing=10)
    live.evaluate_now(NOW + 600)
    assert all(status(s.name) == "online" for s in sites)
    assert Incident.get().state == "closed"


def test_evaluation_waits_for_the_policy_interval(grid):
    assert live.evaluate_if_due(NOW) is not None
    assert live.evaluate_if_due(NOW + 299) is None
    assert live.evaluate_if_due(NOW + 300) is not None


def test_killed_jobs_and_stress_tests_do_not_count(world):
    from appliance.states import Category
    site = world.site("S0")
    fa = world.template("fa", [site])
    stress = world.template("st", [site], Category.STRESS)
    world.history(site, [fa], "KKK", NOW - 100, spacing=10)
    world.history(site, [stress], "FFF", NOW - 100, spacing=10)
    verdict = live.evaluate_now(NOW).verdicts["S0"]
    assert verdict.kind == "insufficient" and verdict.needs == ("fa",)


def test_stress_test_on_an_excluded_site_warns(world):
    from appliance.lifecycle import create_test
    from appliance.models import TestLog
    from appliance.states import Category
    good, bad = world.site("good"), world.site("bad", status="excluded")
    stress = world.template("st", [good, bad], Category.STRESS)
    test = create_test(stress, NOW, NOW + 3600, owner="alice")
    assert len(test.warnings) == 1 and "bad is excluded" in test.warnings[0]
    assert TestLog.select().where(TestLog.test == test.id, TestLog.severity == "warning").count()
    functional = world.template("fa", [good, bad])
    assert create_test(functional, NOW, NOW + 3600, owner="server").warnings == []


def test_policy_load_rejects_errors_and_keeps_the_running_policy(world):
    world.template("fa", [world.site("S0")])
    version, _ = store.active_policy()
    source = store.policy_source().source
    broken = source.replace("critical_templates: all", "critical_templates: [fa, nope]")
    with pytest.raises(ValueError, match=r"line 10: critical_templates\[1\]: no functional"):
        store.load_policy(broken, "cli:op")
    assert store.active_policy()[0] == version
    new, policy = store.load_policy(source.replace("critical_templates: all",
                                                   "critical_templates: [fa]"), "cli:op")
    assert new == version + 1 and policy.critical_templates == ("fa",)
    assert views.policy()["version"] == new and not views.policy(version)["active"]
