"""Site health for the JSON API: plain functions returning dicts, ready for the
web to wire to routes (and used by the CLI). They read; they never decide."""
from __future__ import annotations

import time

import peewee as pw

from appliance.errors import BadInput
from appliance.health import live, robot, store
from appliance.health.events import event_dict
from appliance.health.rules import Verdict
from appliance.health.webhooks import delivery_dict
from appliance.models import (
    HealthEvaluation,
    Incident,
    PolicyVersion,
    Site,
    SiteEvent,
    Webhook,
    WebhookDelivery,
)

robot_matrix = robot.matrix
site_overview = robot.site_overview


def verdict_dict(verdict: Verdict) -> dict:
    return {"verdict": verdict.kind, "rule": verdict.rule, "detail": verdict.detail,
            "failing": verdict.failing, "needs_jobs_in": list(verdict.needs),
            "evidence": [o.evidence() for o in verdict.evidence]}


def site_dict(site: Site) -> dict:
    return {"site": site.name, "status": site.status, "status_reason": site.status_reason,
            "status_changed_at": site.status_changed_at,
            "automation": bool(site.health_automation),
            "automation_reason": site.automation_reason, "pinned": bool(site.pinned),
            "pin_reason": site.pin_reason, "pinned_by": site.pinned_by,
            "pinned_at": site.pinned_at}


def overview(now: float | None = None) -> dict:
    """Every site with its current verdict, the policy in force, open incidents."""
    now = time.time() if now is None else now
    version, evaluation, _ = live.dry_run(now)
    sites = [site_dict(s) | verdict_dict(evaluation.verdicts[s.name])
             for s in Site.select().order_by(Site.name)]
    last = HealthEvaluation.select().order_by(HealthEvaluation.at.desc()).first()
    return {"at": now, "policy_version": version, "sites": sites,
            "last_evaluation": None if last is None else {
                "at": last.at, "policy_version": last.policy_version, "judged": last.judged,
                "insufficient": last.insufficient, "excluded": last.excluded,
                "included": last.included, "held": last.held, "seconds": last.seconds},
            "open_incidents": incidents(closed=False)["incidents"]}


def site_health(name: str, now: float | None = None, limit: int = 50) -> dict:
    site = Site.get_or_none(Site.name == name)
    if site is None:
        raise BadInput(f"no site named {name!r}")
    now = time.time() if now is None else now
    _, evaluation, _ = live.dry_run(now)
    return site_dict(site) | verdict_dict(evaluation.verdicts[name]) | site_events(name, limit)


def site_events(name: str, limit: int = 50) -> dict:
    rows = (SiteEvent.select().join(Site).where(Site.name == name)
            .order_by(SiteEvent.at.desc(), SiteEvent.id.desc()).limit(limit))
    return {"events": [event_dict(e, name) for e in rows]}


def incidents(closed: bool = True, limit: int = 50) -> dict:
    query = Incident.select().order_by(Incident.id.desc()).limit(limit)
    if not closed:
        query = query.where(Incident.state.in_(store.OPEN_STATES))
    return {"incidents": [store.incident_dict(i) for i in query]}


def incident(incident_id: int) -> dict:
    row = Incident.get_or_none(Incident.id == incident_id)
    if row is None:
        raise BadInput(f"no incident {incident_id}")
    return store.incident_dict(row)


def policy(version: int | None = None) -> dict:
    row = store.policy_source(version)
    return {"version": row.id, "name": row.name, "loaded_at": row.loaded_at,
            "loaded_by": row.loaded_by, "source": row.source,
            "active": row.id == PolicyVersion.select(pw.fn.MAX(PolicyVersion.id)).scalar()}


def policy_versions() -> dict:
    rows = PolicyVersion.select(PolicyVersion.id, PolicyVersion.name, PolicyVersion.loaded_at,
                                PolicyVersion.loaded_by).order_by(PolicyVersion.id.desc())
    return {"versions": [{"version": r.id, "name": r.name, "loaded_at": r.loaded_at,
                          "loaded_by": r.loaded_by} for r in rows]}


def webhooks() -> dict:
    counts: dict[int, dict[str, int]] = {}
    rows = (WebhookDelivery.select(WebhookDelivery.webhook, WebhookDelivery.state,
                                   pw.fn.COUNT(WebhookDelivery.id))
            .group_by(WebhookDelivery.webhook, WebhookDelivery.state).tuples())
    for hook, state, count in rows:
        counts.setdefault(hook, {})[state] = count
    return {"webhooks": [{"id": h.id, "url": h.url, "active": bool(h.active),
                          "created_at": h.created_at, "created_by": h.created_by,
                          "deliveries": counts.get(h.id, {})}
                         for h in Webhook.select().order_by(Webhook.id)]}


def deliveries(limit: int = 50, webhook: int | None = None) -> dict:
    query = WebhookDelivery.select().order_by(WebhookDelivery.id.desc()).limit(limit)
    if webhook is not None:
        query = query.where(WebhookDelivery.webhook == webhook)
    return {"deliveries": [delivery_dict(d) for d in query]}
