"""One evaluation of the policy over all sites, and the circuit breaker. Pure.

The breaker exists because a central failure (a broken software release, a
storage outage) makes healthy sites fail all at once: excluding them all is
the 2024 HammerCloud incident. When the exclusions of one evaluation look like
that, they are held and an incident is opened; re-inclusions still go ahead.
While an incident is open every automatic exclusion is held. An operator may
release it: from then on exclusions apply. Either way the incident closes
itself once none of its sites fails any more.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from appliance.health.policy import Policy
from appliance.health.rules import History, Kind, SiteView, Verdict, judge
from appliance.states import SiteStatus


@dataclass(frozen=True)
class IncidentView:
    id: int | None
    state: str  # open or released
    sites: frozenset[str]


@dataclass(frozen=True)
class Trip:
    trigger: str  # share or signature
    summary: str
    signature: str = ""


@dataclass(frozen=True)
class Change:
    site: str
    old: str
    new: str
    rule: str
    evidence: tuple
    detail: str


@dataclass
class Evaluation:
    at: float
    verdicts: dict[str, Verdict]
    changes: list[Change] = field(default_factory=list)
    held: list[Verdict] = field(default_factory=list)
    trip: Trip | None = None  # a new incident to open
    close_incident: bool = False

    def count(self, kind: str) -> int:
        return sum(1 for v in self.verdicts.values() if v.kind == kind)

    @property
    def judged(self) -> int:
        return sum(1 for v in self.verdicts.values() if v.judged)


def evaluate(policy: Policy, sites: Sequence[SiteView], histories: Mapping[str, History],
             templates: Mapping[str, Sequence[str]], incident: IncidentView | None,
             now: float) -> Evaluation:
    verdicts = {site.name: judge(policy, site, histories.get(site.name, {}),
                                 templates.get(site.name, ()), now) for site in sites}
    evaluation = Evaluation(now, verdicts)
    statuses = {site.name: site.status for site in sites}
    exclusions = [v for v in verdicts.values() if v.kind == Kind.EXCLUDE]
    if exclusions and (incident is None or incident.state != "released"):
        if incident is None:
            evaluation.trip = trip(policy, exclusions, evaluation.judged)
        if incident is not None or evaluation.trip is not None:
            evaluation.held = exclusions
            exclusions = []
    for verdict in exclusions:
        evaluation.changes.append(_change(verdict, statuses, SiteStatus.EXCLUDED.value))
    for verdict in verdicts.values():
        if verdict.kind == Kind.INCLUDE:
            evaluation.changes.append(_change(verdict, statuses, SiteStatus.ONLINE.value))
    if incident is not None:
        watched = incident.sites | {v.site for v in evaluation.held}
        evaluation.close_incident = not any(
            verdicts[name].failing for name in watched if name in verdicts)
    return evaluation


def _change(verdict: Verdict, statuses: Mapping[str, str], new: str) -> Change:
    return Change(verdict.site, statuses[verdict.site], new, verdict.rule, verdict.evidence,
                  verdict.detail)


def trip(policy: Policy, exclusions: Sequence[Verdict], judged: int) -> Trip | None:
    """Why these exclusions must be held, or None when they may go ahead."""
    breaker = policy.breaker
    count = len(exclusions)
    if count >= breaker.min_sites and judged and count / judged > breaker.max_share:
        return Trip("share", f"{count} of {judged} judged sites would be excluded at once "
                    f"(more than {breaker.max_share:.0%})")
    for name in breaker.signature:
        common = Counter(_signature(v, name) for v in exclusions)
        common.pop(None, None)
        if common:
            value, sites = common.most_common(1)[0]
            if sites >= breaker.signature_sites:
                return Trip("signature", f"{sites} sites would be excluded failing with the "
                            f"same {name.replace('_', ' ')}: {value}", f"{name}={value}")
    return None


def _signature(verdict: Verdict, name: str):
    """The site's most common failure reason (or exit code) in its evidence."""
    values = Counter(getattr(o, name) for o in verdict.evidence if o.failed)
    values.pop(None, None)
    if not values:
        return None
    return min(values.items(), key=lambda item: (-item[1], str(item[0])))[0]


def describe(evaluation: Evaluation) -> str:
    """One line for logs."""
    parts = [f"{evaluation.judged} judged", f"{evaluation.count(Kind.INSUFFICIENT)} without "
             "enough data"]
    parts += [f"{c.site} -> {c.new} ({c.rule})" for c in evaluation.changes]
    if evaluation.held:
        parts.append(f"{len(evaluation.held)} exclusions held")
    return "; ".join(parts)
