"""One site's verdict from its recent functional jobs: pure functions, no database.

A history maps each critical template to the site's finished jobs of that
template in the look-back window, newest first. Only completed and failed jobs
count: a killed job says nothing about the site.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from appliance.health.policy import ExcludeRule, Policy
from appliance.states import SiteStatus


@dataclass(frozen=True)
class Outcome:
    job_id: int
    template: str
    failed: bool
    ended_at: float
    exit_code: int | None = None
    reason: str | None = None

    def evidence(self) -> dict:
        return {"job": self.job_id, "template": self.template,
                "state": "failed" if self.failed else "completed", "ended_at": self.ended_at,
                "exit_code": self.exit_code, "reason": self.reason}


History = Mapping[str, Sequence[Outcome]]


@dataclass(frozen=True)
class SiteView:
    """What the automation needs to know about a site."""
    name: str
    status: str
    automation: bool = True
    pinned: bool = False
    last_auto_exclusion: float | None = None


class Kind:
    EXCLUDE = "exclude"          # an online site to be excluded
    INCLUDE = "include"          # an excluded site to be re-included
    HEALTHY = "healthy"          # online and no rule matched
    FAILING = "failing"          # excluded and not yet ready to come back
    GUARDED = "guarded"          # a rule matched within the guard time of the last exclusion
    INSUFFICIENT = "insufficient"  # not enough recent jobs to judge
    PINNED = "pinned"            # an operator pinned the status
    OPTED_OUT = "opted-out"      # the site opted out of automation
    UNMANAGED = "unmanaged"      # a status the automation leaves alone (test, offline)


JUDGED = frozenset({Kind.EXCLUDE, Kind.INCLUDE, Kind.HEALTHY, Kind.FAILING, Kind.GUARDED})
MANAGED_STATUSES = (SiteStatus.ONLINE.value, SiteStatus.EXCLUDED.value)


@dataclass(frozen=True)
class Verdict:
    site: str
    kind: str
    rule: str = ""
    evidence: tuple[Outcome, ...] = ()
    detail: str = ""
    failing: bool = False  # an exclusion rule matches, whatever the site's status
    needs: tuple[str, ...] = field(default=())  # templates short of jobs

    @property
    def judged(self) -> bool:
        return self.kind in JUDGED


def _failed_streak(jobs: Sequence[Outcome], last: int) -> bool:
    return len(jobs) >= last and all(job.failed for job in jobs[:last])


def match_rule(rule: ExcludeRule, history: History) -> tuple[Outcome, ...] | None:
    """The failed jobs that make `rule` match, or None.

    Each clause takes templates of its own. Clauses are served most demanding
    first: a template whose last 3 jobs failed also satisfies "last 1 failed",
    so the greedy choice never blocks a later clause that could be met.
    """
    used: set[str] = set()
    evidence: list[Outcome] = []
    for clause in sorted(rule.clauses, key=lambda c: -c.last):
        fitting = [name for name in sorted(history) if name not in used
                   and _failed_streak(history[name], clause.last)]
        if len(fitting) < clause.templates:
            return None
        for name in fitting[:clause.templates]:
            used.add(name)
            evidence.extend(history[name][:clause.last])
    return tuple(evidence)


def first_match(policy: Policy, history: History) -> tuple[str, tuple[Outcome, ...]] | None:
    for rule in policy.exclude:
        evidence = match_rule(rule, history)
        if evidence is not None:
            return rule.name, evidence
    return None


def short_of_jobs(history: History, templates: Sequence[str], needed: int) -> tuple[str, ...]:
    """Critical templates with fewer than `needed` finished jobs in the window."""
    return tuple(t for t in templates if len(history.get(t, ())) < needed)


def ready_to_include(policy: Policy, history: History,
                     templates: Sequence[str]) -> tuple[Outcome, ...] | None:
    """The completed jobs that bring a site back, or None."""
    last = policy.include_last
    evidence: list[Outcome] = []
    for name in templates:
        jobs = history.get(name, ())
        if len(jobs) < last or any(job.failed for job in jobs[:last]):
            return None
        evidence.extend(jobs[:last])
    return tuple(evidence)


def judge(policy: Policy, site: SiteView, history: History, templates: Sequence[str],
          now: float) -> Verdict:
    """The verdict on one site; `templates` are the critical templates covering it."""
    history = {t: history.get(t, ()) for t in templates}
    matched = first_match(policy, history)
    failing = matched is not None
    rule, evidence = matched or ("", ())
    if site.status not in MANAGED_STATUSES:
        return Verdict(site.name, Kind.UNMANAGED, rule, evidence,
                       f"status {site.status} is left to operators", failing)
    if site.pinned:
        return Verdict(site.name, Kind.PINNED, rule, evidence, "pinned by an operator", failing)
    if not site.automation:
        return Verdict(site.name, Kind.OPTED_OUT, rule, evidence, "opted out of automation",
                       failing)
    if not templates:
        return Verdict(site.name, Kind.INSUFFICIENT, detail="no critical functional template "
                       "covers this site")
    if site.status == SiteStatus.ONLINE.value:
        return _judge_online(policy, site, history, templates, matched, now)
    return _judge_excluded(policy, site, history, templates, matched)


def _judge_online(policy, site, history, templates, matched, now) -> Verdict:
    if matched:
        rule, evidence = matched
        last = site.last_auto_exclusion
        if last is not None and now - last < policy.guard:
            return Verdict(site.name, Kind.GUARDED, rule, evidence,
                           f"excluded automatically {_hours(now - last)} ago; the guard is "
                           f"{_hours(policy.guard)}", True)
        return Verdict(site.name, Kind.EXCLUDE, rule, evidence, f"rule {rule} matched", True)
    needs = short_of_jobs(history, templates, policy.min_jobs)
    if needs:
        return Verdict(site.name, Kind.INSUFFICIENT, detail=_needs(needs, policy.min_jobs),
                       needs=needs)
    return Verdict(site.name, Kind.HEALTHY, detail="no rule matched")


def _judge_excluded(policy, site, history, templates, matched) -> Verdict:
    rule, evidence = matched or ("", ())
    back = ready_to_include(policy, history, templates)
    if back is not None:
        return Verdict(site.name, Kind.INCLUDE, "include", back,
                       f"the last {policy.include_last} jobs of every critical template "
                       "completed")
    needs = short_of_jobs(history, templates, max(policy.min_jobs, policy.include_last))
    if needs and matched is None:
        return Verdict(site.name, Kind.INSUFFICIENT, detail=_needs(needs, policy.include_last),
                       needs=needs)
    return Verdict(site.name, Kind.FAILING, rule, evidence,
                   "not every critical template has completed its last "
                   f"{policy.include_last} jobs", matched is not None, needs)


def _needs(templates: Sequence[str], count: int) -> str:
    return f"needs {count} recent finished jobs in template " + ", ".join(templates)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"
