"""Replay: a policy evaluated over the stored history, changing nothing.

The sites start as they were at the start of the period (the current state
rolled back through the events since), operators' own changes (status, pins,
opt-outs, incident releases) happen again when they happened, and the
automation's recorded decisions are replaced by the replayed policy's. Each
evaluation reads the same window, in the same order, through the same pure
functions as the live one, so replaying the live policy at the recorded
evaluation times reproduces the live decisions.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from appliance.errors import BadInput
from appliance.health import history
from appliance.health.evaluation import Evaluation, IncidentView, evaluate
from appliance.health.policy import Policy
from appliance.health.rules import SiteView
from appliance.models import HealthEvaluation, Incident, Site, SiteEvent
from appliance.states import SiteStatus

EXCLUDED = SiteStatus.EXCLUDED.value


@dataclass(frozen=True)
class Decision:
    at: float
    site: str
    old: str
    new: str
    rule: str
    jobs: tuple[int, ...]


@dataclass
class Exclusion:
    site: str
    start: float
    rule: str
    end: float | None = None  # None: still excluded at the end of the replay


@dataclass
class ReplayedIncident:
    opened_at: float
    trigger: str
    summary: str
    sites: set[str]
    closed_at: float | None = None
    released_at: float | None = None


@dataclass
class ReplayResult:
    start: float
    end: float
    evaluations: int = 0
    held_evaluations: int = 0  # evaluations in which the breaker held exclusions
    decisions: list[Decision] = field(default_factory=list)
    exclusions: list[Exclusion] = field(default_factory=list)
    incidents: list[ReplayedIncident] = field(default_factory=list)


@dataclass
class _World:
    sites: dict[str, SiteView]
    incident: IncidentView | None
    manual: list  # (at, apply(world)) in time order


def recorded_times(start: float, end: float) -> list[float]:
    return [at for (at,) in HealthEvaluation.select(HealthEvaluation.at)
            .where(HealthEvaluation.at.between(start, end)).order_by(HealthEvaluation.at).tuples()]


def grid(policy: Policy, start: float, end: float) -> list[float]:
    count = int((end - start) // policy.interval) + 1
    return [start + i * policy.interval for i in range(count)]


def replay(policy: Policy, start: float, end: float,
           times: list[float] | None = None) -> ReplayResult:
    """Evaluate `policy` at `times` (default: every policy interval from `start`)."""
    if end <= start:
        raise BadInput("the end of a replay must be after its start")
    times = grid(policy, start, end) if times is None else sorted(times)
    templates = history.critical_templates(policy)
    covered = history.site_templates(policy, templates)
    rows = history.outcome_rows(templates, start - policy.window, end - policy.settle)
    keys = [row[0] for row in rows]
    world = _initial_world(policy, start, end)
    result = ReplayResult(start, end)
    open_exclusions: dict[str, Exclusion] = {}
    for now in times:
        _catch_up(world, now, result, open_exclusions)
        low, high = history.window(policy, now)
        histories = history.group_histories(history.slice_rows(rows, keys, low, high),
                                            policy.depth)
        evaluation = evaluate(policy, list(world.sites.values()), histories, covered,
                              world.incident, now)
        _apply(world, evaluation, result, open_exclusions)
    _catch_up(world, end, result, open_exclusions)
    return result


def _apply(world: _World, evaluation: Evaluation, result: ReplayResult,
           open_exclusions: dict[str, Exclusion]) -> None:
    now = evaluation.at
    result.evaluations += 1
    for change in evaluation.changes:
        site = world.sites[change.site]
        last = now if change.new == EXCLUDED else site.last_auto_exclusion
        world.sites[change.site] = replace(site, status=change.new, last_auto_exclusion=last)
        result.decisions.append(Decision(now, change.site, change.old, change.new, change.rule,
                                         tuple(o.job_id for o in change.evidence)))
        _track(result, open_exclusions, change.site, change.new, now, change.rule)
    held = {v.site for v in evaluation.held}
    if held:
        result.held_evaluations += 1
    if evaluation.trip is not None:
        world.incident = IncidentView(None, "open", frozenset(held))
        result.incidents.append(ReplayedIncident(now, evaluation.trip.trigger,
                                                 evaluation.trip.summary, set(held)))
    elif world.incident is not None and held:
        world.incident = replace(world.incident, sites=world.incident.sites | held)
        if result.incidents:
            result.incidents[-1].sites |= held
    if world.incident is not None and evaluation.close_incident:
        world.incident = None
        if result.incidents and result.incidents[-1].closed_at is None:
            result.incidents[-1].closed_at = now


def _track(result, open_exclusions, site: str, new: str, now: float, rule: str) -> None:
    if new == EXCLUDED and site not in open_exclusions:
        open_exclusions[site] = Exclusion(site, now, rule)
        result.exclusions.append(open_exclusions[site])
    elif new != EXCLUDED and site in open_exclusions:
        open_exclusions.pop(site).end = now


def _catch_up(world: _World, now: float, result, open_exclusions) -> None:
    """Apply the operators' changes made up to `now`."""
    while world.manual and world.manual[0][0] <= now:
        at, action = world.manual.pop(0)
        changed = action(world)
        if changed is not None:
            _track(result, open_exclusions, changed, world.sites[changed].status, at, "")


# -- the world at the start, and what operators did -----------------------------

def _initial_world(policy: Policy, start: float, end: float) -> _World:
    sites = {name: SiteView(name, status, bool(auto), bool(pinned))
             for name, status, auto, pinned in Site.select(
                 Site.name, Site.status, Site.health_automation, Site.pinned).tuples()}
    later = (SiteEvent.select(SiteEvent, Site.name).join(Site)
             .where(SiteEvent.at > start).order_by(SiteEvent.at.desc(), SiteEvent.id.desc()))
    manual = []
    for event in later:
        name = event.site.name
        sites[name] = _undo(sites[name], event)
        if not event.automatic and event.at <= end:
            manual.append((event.at, event.id, _redo(name, event)))
    last = (SiteEvent.select(Site.name, SiteEvent.at).join(Site)
            .where(SiteEvent.automatic, SiteEvent.kind == "status",
                   SiteEvent.new_status == EXCLUDED, SiteEvent.at.between(
                       start - policy.guard, start)).tuples())
    for name, at in last:
        if (sites[name].last_auto_exclusion or 0) < at:
            sites[name] = replace(sites[name], last_auto_exclusion=at)
    manual += _releases(start, end)
    manual.sort(key=lambda item: (item[0], item[1]))
    return _World(sites, _incident_at(start), [(at, action) for at, _, action in manual])


def _undo(site: SiteView, event: SiteEvent) -> SiteView:
    if event.kind == "status":
        return replace(site, status=event.old_status)
    flags = {"pin": ("pinned", False), "unpin": ("pinned", True),
             "opt-out": ("automation", True), "opt-in": ("automation", False)}
    name, value = flags[event.kind]
    return replace(site, **{name: value})


def _redo(name: str, event: SiteEvent):
    def action(world: _World) -> str | None:
        site = world.sites[name]
        if event.kind == "status":
            world.sites[name] = replace(site, status=event.new_status)
            return name
        flag, value = {"pin": ("pinned", True), "unpin": ("pinned", False),
                       "opt-out": ("automation", False), "opt-in": ("automation", True)}[event.kind]
        world.sites[name] = replace(site, **{flag: value})
        return None
    return action


def _incident_at(start: float) -> IncidentView | None:
    row = (Incident.select().where(Incident.opened_at <= start,
                                   Incident.closed_at.is_null() | (Incident.closed_at > start))
           .order_by(Incident.id.desc()).first())
    if row is None:
        return None
    released = row.released_at is not None and row.released_at <= start
    return IncidentView(row.id, "released" if released else "open", frozenset(row.sites))


def _releases(start: float, end: float) -> list:
    """Operators' releases of incidents: they release whatever incident the replay has open."""
    def release(world: _World) -> None:
        if world.incident is not None and world.incident.state == "open":
            world.incident = replace(world.incident, state="released")
    rows = Incident.select(Incident.id, Incident.released_at).where(
        Incident.released_at.between(start, end)).tuples()
    return [(at, -incident_id, release) for incident_id, at in rows]
