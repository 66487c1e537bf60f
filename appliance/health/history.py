"""What an evaluation reads from the database: the look-back window of
functional jobs, which critical templates cover which site, and the sites.

Live evaluation and replay share `outcome_rows` and `group_histories`, so they
see the same jobs in the same order: that is what makes replay faithful.
"""
from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence

import peewee as pw

from appliance.health.policy import Policy
from appliance.health.rules import Outcome, SiteView
from appliance.models import Job, Site, SiteEvent, Template, TemplateSite, Test
from appliance.states import Category, JobState, SiteStatus

COUNTED = (JobState.COMPLETED.value, JobState.FAILED.value)
# (ended_at, job id, site name, template name, failed, exit code, reason)
Row = tuple


def critical_templates(policy: Policy) -> dict[int, str]:
    """{template id: name} of the functional templates that judge sites."""
    query = Template.select(Template.id, Template.name).where(
        Template.category == Category.FUNCTIONAL.value, Template.active)
    if policy.critical_templates is not None:
        query = query.where(Template.name.in_(policy.critical_templates))
    return dict(query.tuples())


def site_templates(policy: Policy, templates: dict[int, str] | None = None) -> dict[str, list]:
    """{site name: [critical template names covering it]}."""
    templates = critical_templates(policy) if templates is None else templates
    rows = (TemplateSite.select(Site.name, TemplateSite.template).join(Site)
            .where(TemplateSite.template.in_(list(templates) or [0])).tuples())
    covered: dict[str, list] = defaultdict(list)
    for site, template_id in rows:
        covered[site].append(templates[template_id])
    return {site: sorted(names) for site, names in covered.items()}


def outcome_rows(templates: dict[int, str], start: float, end: float) -> list[Row]:
    """Finished jobs of these templates that ended in [start, end], oldest first.

    One query over the job.ended_at index: the evaluation never reads more than
    its window, however long the history.
    """
    if not templates:
        return []
    query = (Job.select(Job.ended_at, Job.id, Site.name, Test.template,
                        Job.state == JobState.FAILED.value, Job.exit_code, Job.reason)
             .join(Test).switch(Job).join(Site)
             .where(Job.ended_at.between(start, end), Job.state.in_(COUNTED),
                    Test.template.in_(list(templates)))
             .order_by(Job.ended_at, Job.id))
    return [(ended, job_id, site, templates[template], bool(failed), code, reason)
            for ended, job_id, site, template, failed, code, reason in query.tuples()]


def window(policy: Policy, now: float) -> tuple[float, float]:
    """Jobs count when they ended in [now - window, now - settle] (both ends included)."""
    return now - policy.window, now - policy.settle


def group_histories(rows: Sequence[Row], depth: int) -> dict[str, dict[str, list[Outcome]]]:
    """{site: {template: [newest first, at most `depth`]}} from rows oldest first."""
    histories: dict[str, dict[str, list[Outcome]]] = defaultdict(lambda: defaultdict(list))
    for ended, job_id, site, template, failed, code, reason in reversed(rows):
        jobs = histories[site][template]
        if len(jobs) < depth:
            jobs.append(Outcome(job_id, template, failed, ended, code, reason))
    return {site: dict(by_template) for site, by_template in histories.items()}


def slice_rows(rows: Sequence[Row], keys: Sequence[float], start: float,
               end: float) -> Sequence[Row]:
    """The rows (sorted by ended_at, `keys` their ended_at) with start <= ended_at <= end."""
    return rows[bisect.bisect_left(keys, start):bisect.bisect_right(keys, end)]


def recent_histories(policy: Policy, templates: dict[int, str], now: float):
    start, end = window(policy, now)
    return group_histories(outcome_rows(templates, start, end), policy.depth)


def site_views(policy: Policy, now: float) -> list[SiteView]:
    """Every site with what the automation needs, the guard read over its span only."""
    recent = dict(SiteEvent.select(SiteEvent.site, pw.fn.MAX(SiteEvent.at))
                  .where(SiteEvent.automatic, SiteEvent.kind == "status",
                         SiteEvent.new_status == SiteStatus.EXCLUDED.value,
                         SiteEvent.at >= now - policy.guard, SiteEvent.at <= now)
                  .group_by(SiteEvent.site).tuples())
    rows = Site.select(Site.id, Site.name, Site.status, Site.health_automation, Site.pinned)
    return [SiteView(name, status, bool(automation), bool(pinned), recent.get(site_id))
            for site_id, name, status, automation, pinned in rows.order_by(Site.name).tuples()]
