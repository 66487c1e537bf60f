"""Every rule of the default policy on crafted job histories, with the edges."""
from __future__ import annotations

import itertools

import pytest

from appliance.health import policy as policy_module
from appliance.health.history import group_histories, window
from appliance.health.rules import Kind, Outcome, SiteView, judge

POLICY = policy_module.parse(policy_module.default_source())
NOW = 1_800_000_000.0
HOUR = 3600.0
TEMPLATES = ("fa", "fb", "fc")
_ids = itertools.count(1)


def jobs(template: str, outcomes: str, newest: float = NOW - 120, spacing: float = 600):
    """'FFC': newest first; F failed, C completed."""
    return [Outcome(next(_ids), template, c == "F", newest - i * spacing, 1 if c == "F" else 0,
                    "boom" if c == "F" else None) for i, c in enumerate(outcomes)]


def verdict(outcomes: dict[str, str], status="online", now=NOW, **site):
    history = {t: jobs(t, o) for t, o in outcomes.items()}
    return judge(POLICY, SiteView("S", status, **site), history, TEMPLATES, now)


@pytest.mark.parametrize("outcomes, rule", [
    ({"fa": "FC", "fb": "FC", "fc": "FC"}, "latest-failed-in-3-templates"),
    ({"fa": "FF", "fb": "FF", "fc": "CC"}, "last-2-failed-in-2-templates"),
    ({"fa": "FF", "fb": "FC", "fc": "CC"}, "last-2-failed-in-one-and-last-in-another"),
    ({"fa": "FFF", "fb": "CC", "fc": "CC"}, "last-3-failed-in-one-template"),
    ({"fa": "FFFC", "fb": "CC", "fc": "CC"}, "last-3-failed-in-one-template"),
])
def test_each_exclusion_rule(outcomes, rule):
    result = verdict(outcomes)
    assert (result.kind, result.rule) == (Kind.EXCLUDE, rule)
    assert result.failing
    assert all(o.failed for o in result.evidence)


def test_evidence_names_exactly_the_failed_jobs_the_rule_used():
    history = {"fa": jobs("fa", "FFC"), "fb": jobs("fb", "FC"), "fc": jobs("fc", "CC")}
    result = judge(POLICY, SiteView("S", "online"), history, TEMPLATES, NOW)
    assert result.rule == "last-2-failed-in-one-and-last-in-another"
    assert {o.job_id for o in result.evidence} == {history["fa"][0].job_id,
                                                   history["fa"][1].job_id,
                                                   history["fb"][0].job_id}


@pytest.mark.parametrize("outcomes", [
    {"fa": "FC", "fb": "FC", "fc": "CC"},       # latest failed in only 2 templates
    {"fa": "FF", "fb": "CF", "fc": "CC"},       # the other template's latest completed
    {"fa": "FFCF", "fb": "CC", "fc": "CC"},     # 2 in a row, not 3
    {"fa": "CFF", "fb": "CFF", "fc": "CFF"},    # old failures, latest all completed
])
def test_near_misses_stay_online(outcomes):
    assert verdict(outcomes).kind == Kind.HEALTHY


def test_one_template_cannot_serve_two_clauses():
    # fa's last two failed; "last one in another" needs a different template.
    assert verdict({"fa": "FF", "fb": "CC", "fc": "CC"}).kind == Kind.HEALTHY


def test_reinclusion_needs_the_last_two_of_every_template_completed():
    assert verdict({"fa": "CCF", "fb": "CC", "fc": "CCFFF"}, "excluded").kind == Kind.INCLUDE
    assert verdict({"fa": "CF", "fb": "CC", "fc": "CC"}, "excluded").kind == Kind.FAILING
    still = verdict({"fa": "FF", "fb": "FF", "fc": "CC"}, "excluded")
    assert (still.kind, still.failing) == (Kind.FAILING, True)


def test_insufficient_data_is_not_judged():
    online = verdict({"fa": "C", "fb": "CC", "fc": "CC"})
    assert (online.kind, online.needs, online.judged) == (Kind.INSUFFICIENT, ("fa",), False)
    assert "fa" in online.detail
    excluded = verdict({"fa": "CC", "fb": "C"}, "excluded")
    assert (excluded.kind, excluded.needs) == (Kind.INSUFFICIENT, ("fb", "fc"))
    assert verdict({}).kind == Kind.INSUFFICIENT
    # A rule that matches on few jobs still decides.
    assert verdict({"fa": "F", "fb": "F", "fc": "F"}).kind == Kind.EXCLUDE


def test_site_without_critical_template_is_insufficient():
    result = judge(POLICY, SiteView("S", "online"), {}, (), NOW)
    assert result.kind == Kind.INSUFFICIENT and "no critical" in result.detail


def test_guard_blocks_a_new_exclusion_for_six_hours():
    failing = {"fa": "FFF", "fb": "CC", "fc": "CC"}
    inside = verdict(failing, last_auto_exclusion=NOW - 6 * HOUR + 1)
    assert (inside.kind, inside.failing, inside.judged) == (Kind.GUARDED, True, True)
    assert verdict(failing, last_auto_exclusion=NOW - 6 * HOUR).kind == Kind.EXCLUDE
    assert verdict(failing, last_auto_exclusion=NOW - 7 * HOUR).kind == Kind.EXCLUDE


def test_pin_and_opt_out_are_never_overridden():
    failing = {"fa": "FFF", "fb": "CC", "fc": "CC"}
    pinned = verdict(failing, pinned=True)
    assert (pinned.kind, pinned.failing, pinned.rule) == (Kind.PINNED, True,
                                                           "last-3-failed-in-one-template")
    assert verdict(failing, automation=False).kind == Kind.OPTED_OUT
    healthy = {"fa": "CC", "fb": "CC", "fc": "CC"}
    assert verdict(healthy, "excluded", pinned=True).kind == Kind.PINNED
    assert verdict(healthy, "excluded", automation=False).kind == Kind.OPTED_OUT


def test_statuses_outside_automation_are_left_alone():
    failing = {"fa": "FFF", "fb": "CC", "fc": "CC"}
    assert verdict(failing, "offline").kind == Kind.UNMANAGED
    assert verdict(failing, "test").kind == Kind.UNMANAGED


def test_window_edges_are_included_and_anything_older_is_not():
    low, high = window(POLICY, NOW)
    assert (NOW - low, NOW - high) == (4 * HOUR, 60)
    rows = [(low - 0.001, 1, "S", "fa", True, 1, "x"),   # just outside: ignored
            (low, 2, "S", "fa", True, 1, "x"),           # exactly at the edge: counts
            (low + 1, 3, "S", "fa", True, 1, "x"),
            (high, 4, "S", "fa", True, 1, "x")]
    from appliance.health.history import slice_rows
    keys = [r[0] for r in rows]
    histories = group_histories(slice_rows(rows, keys, low, high), POLICY.depth)
    assert [o.job_id for o in histories["S"]["fa"]] == [4, 3, 2]
    result = judge(POLICY, SiteView("S", "online"), histories["S"], TEMPLATES, NOW)
    assert result.rule == "last-3-failed-in-one-template"
    histories = group_histories(slice_rows(rows, keys, low + 0.5, high), POLICY.depth)
    assert judge(POLICY, SiteView("S", "online"), histories["S"], TEMPLATES, NOW).kind \
        == Kind.INSUFFICIENT


def test_history_order_breaks_ties_by_job_id():
    rows = [(NOW - 100, 7, "S", "fa", False, 0, None), (NOW - 100, 8, "S", "fa", True, 1, "x")]
    assert [o.job_id for o in group_histories(rows, 5)["S"]["fa"]] == [8, 7]
