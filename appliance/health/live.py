"""The server agent's site-health duties: evaluate the policy when due, and
deliver webhooks. Neither ever calls a backend."""
from __future__ import annotations

import logging
import time

import peewee as pw

from appliance.health import history, store
from appliance.health.evaluation import Evaluation, describe, evaluate
from appliance.health.events import change_status
from appliance.models import HealthEvaluation, Incident, Site

log = logging.getLogger(__name__)


def last_evaluation_at() -> float | None:
    return HealthEvaluation.select(pw.fn.MAX(HealthEvaluation.at)).scalar()


def evaluate_if_due(now: float) -> Evaluation | None:
    """Evaluate when the policy's interval has passed since the last evaluation
    (kept in the database, so a restarted server keeps the rhythm)."""
    _, policy = store.active_policy()
    last = last_evaluation_at()
    if last is not None and now - last < policy.interval:
        return None
    return evaluate_now(now)


def dry_run(now: float) -> tuple[int, Evaluation, Incident | None]:
    """(policy version, evaluation, open incident) as of `now`; changes nothing."""
    version, policy = store.active_policy()
    templates = history.critical_templates(policy)
    covered = history.site_templates(policy, templates)
    histories = history.recent_histories(policy, templates, now)
    sites = history.site_views(policy, now)
    incident = store.current_incident()
    evaluation = evaluate(policy, sites, histories, covered, store.incident_view(incident), now)
    return version, evaluation, incident


def evaluate_now(now: float) -> Evaluation:
    """Judge every site over the look-back window and apply the decisions."""
    began = time.monotonic()
    version, evaluation, incident = dry_run(now)
    apply(evaluation, version, incident, now)
    HealthEvaluation.create(
        at=now, policy_version=version, judged=evaluation.judged,
        insufficient=evaluation.count("insufficient"),
        excluded=sum(1 for c in evaluation.changes if c.new == "excluded"),
        included=sum(1 for c in evaluation.changes if c.new == "online"),
        held=len(evaluation.held), seconds=time.monotonic() - began)
    log.info("site health (policy v%d): %s", version, describe(evaluation))
    return evaluation


def apply(evaluation: Evaluation, version: int, incident: Incident | None, now: float) -> None:
    ids = dict(Site.select(Site.name, Site.id).tuples())
    actor = f"policy v{version}"
    for change in evaluation.changes:
        done = change_status(ids[change.site], change.old, change.new, actor, now,
                             rule=change.rule, evidence=change.evidence, reason=change.detail,
                             automatic=True, policy_version=version)
        if done is None:
            log.info("site %s changed meanwhile: %s -> %s not applied", change.site,
                     change.old, change.new)
    if evaluation.trip is not None:
        opened = store.open_incident(evaluation.trip, evaluation.held, version, now)
        log.warning("circuit breaker: incident %d opened, %d exclusions held: %s", opened.id,
                    len(evaluation.held), evaluation.trip.summary)
    elif incident is not None and evaluation.held:
        store.note_held(incident, evaluation.held, now)
    if incident is not None and evaluation.close_incident and store.close_incident(incident.id,
                                                                                   now):
        log.info("incident %d closed: its sites no longer fail", incident.id)
