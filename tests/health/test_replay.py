"""Replay: a policy over stored history, and the same decisions as live."""
from __future__ import annotations

from worlds import NOW

from appliance.health import events, live, replay, store
from appliance.health import policy as policy_module
from appliance.models import SiteEvent

HOUR = 3600.0


def _grid(world, count=5, failing=None):
    """Sites with a job every 10 minutes in each template for 12 hours;
    failing: {site index: ([templates], [(from hour, to hour)], reason)}."""
    sites = [world.site(f"S{i}") for i in range(count)]
    templates = [world.template("fa", sites), world.template("fb", sites)]
    failing = failing or {}
    for index, site in enumerate(sites):
        bad, spans, reason = failing.get(index, ([], [], ""))
        spans = [(NOW + a * HOUR, NOW + b * HOUR) for a, b in spans]
        for template in templates:
            world.timeline(site, [template], NOW - 4 * HOUR, NOW + 12 * HOUR,
                           failing=spans if template.name in bad else (), reason=reason)
    return sites, templates


def test_replay_reports_exclusions_and_their_length(world):
    _grid(world, failing={1: (["fa"], [(2, 5)], "x")})
    _, policy = store.active_policy()
    result = replay.replay(policy, NOW, NOW + 12 * HOUR)
    assert result.evaluations == 12 * 12 + 1
    [exclusion] = result.exclusions
    assert exclusion.site == "S1" and exclusion.rule == "last-3-failed-in-one-template"
    # 3 failures from 2h10m, plus the settle minute; evaluations every 5 minutes.
    # The third failure ends at 2h20m, seen after the settle minute: 2h25m.
    assert exclusion.start == NOW + 2 * HOUR + 25 * 60
    # Two completed jobs in fa at 5h00 and 5h10, seen at 5h15.
    assert exclusion.end == NOW + 5 * HOUR + 15 * 60
    assert result.held_evaluations == 0 and result.incidents == []
    assert SiteEvent.select().count() == 0  # a replay changes nothing


def test_replay_counts_breaker_holds(world):
    sites, _ = _grid(world, failing={i: (["fa"], [(2, 3)], "central") for i in range(5)})
    _, policy = store.active_policy()
    result = replay.replay(policy, NOW, NOW + 12 * HOUR)
    assert result.exclusions == []
    assert result.held_evaluations > 0
    [incident] = result.incidents
    assert incident.sites == {s.name for s in sites} and incident.closed_at is not None
    lenient = policy_module.parse(store.policy_source().source.replace(
        "max_share: 0.30", "max_share: 1").replace("signature: [reason, exit_code]",
                                                    "signature: []"))
    assert len(replay.replay(lenient, NOW, NOW + 12 * HOUR).exclusions) == 5


def test_replay_of_recorded_evaluations_matches_live_decisions(world):
    central = [(9, 10.5)]  # a central failure late on: the breaker holds
    _grid(world, count=8, failing={0: (["fa"], [(1, 3)], "a"), 1: (["fa", "fb"], [(4, 5)], "b"),
                                   5: (["fb"], [(6, 7), (9, 10.5)], "c")}
          | {i: (["fb"], central, "central") for i in (2, 3, 4, 6)})
    operators = [(NOW + 5.5 * HOUR, lambda: events.pin("S5", None, "watching", "cli:op",
                                                       at=NOW + 5.5 * HOUR)),
                 (NOW + 8 * HOUR, lambda: events.set_status("S4", "offline", "maintenance",
                                                            "cli:op", at=NOW + 8 * HOUR)),
                 (NOW + 8.5 * HOUR, lambda: events.unpin("S5", "cli:op", at=NOW + 8.5 * HOUR))]
    at = NOW
    while at <= NOW + 12 * HOUR:  # the live server, at slightly irregular times
        while operators and operators[0][0] <= at:
            operators.pop(0)[1]()
        live.evaluate_now(at)
        at += 300 + (at % 7)
    live_decisions = [(e.at, e.site.name, e.old_status, e.new_status, e.rule,
                       tuple(x["job"] for x in e.evidence))
                      for e in SiteEvent.select().where(SiteEvent.automatic)
                      .order_by(SiteEvent.at, SiteEvent.id)]
    assert len(live_decisions) >= 3
    _, policy = store.active_policy()
    times = replay.recorded_times(NOW, NOW + 12 * HOUR)
    result = replay.replay(policy, NOW, NOW + 12 * HOUR, times)
    replayed = [(d.at, d.site, d.old, d.new, d.rule, d.jobs) for d in result.decisions]
    assert replayed == live_decisions
    assert len(result.incidents) == 1
