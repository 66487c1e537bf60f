"""Changes to a site's status and automation settings, each one an event.

Every change is a guarded UPDATE of the site row (its row count checked) and a
SiteEvent in the same transaction; status changes also queue one webhook
delivery per active webhook there, so no change is ever announced without
having happened, nor happens unannounced.
"""
from __future__ import annotations

import time

from appliance.db import database
from appliance.errors import BadInput
from appliance.models import Site, SiteEvent, Webhook, WebhookDelivery
from appliance.states import SiteStatus


class SiteChangeRefused(BadInput):
    """The site does not exist, or its state forbids the change."""


def _site(name: str) -> Site:
    site = Site.get_or_none(Site.name == name)
    if site is None:
        raise SiteChangeRefused(f"no site named {name!r}")
    return site


def record(site: Site | int, kind: str, old: str, new: str, actor: str, at: float,
           **details) -> SiteEvent:
    """Write the event (inside the caller's transaction) and queue its webhooks:
    status changes, and changes of a site's credential (appliance/credentials.py)."""
    event = SiteEvent.create(site=site, kind=kind, old_status=old, new_status=new, actor=actor,
                             at=at, **details)
    if (kind == "status" and old != new) or kind == "credential":
        hooks = [h for (h,) in Webhook.select(Webhook.id).where(Webhook.active).tuples()]
        if hooks:
            WebhookDelivery.insert_many([dict(webhook=h, event=event.id, next_attempt_at=at)
                                         for h in hooks]).execute()
    return event


def change_status(site_id: int, old: str, new: str, actor: str, at: float, *, rule: str = "",
                  evidence: list | tuple = (), reason: str = "", automatic: bool = False,
                  policy_version: int | None = None) -> SiteEvent | None:
    """Move a site from `old` to `new`; None when it was no longer `old` (or, for the
    automation, was pinned or opted out meanwhile)."""
    with database.atomic():
        query = (Site.update(status=new, status_reason=reason or rule, status_changed_at=at)
                 .where(Site.id == site_id, Site.status == old))
        if automatic:
            query = query.where(Site.pinned == False, Site.health_automation)  # noqa: E712
        if query.execute() != 1:
            return None
        return record(site_id, "status", old, new, actor, at, rule=rule,
                      evidence=[_evidence(e) for e in evidence], reason=reason,
                      automatic=automatic, policy_version=policy_version)


def _evidence(item) -> dict:
    return item if isinstance(item, dict) else item.evidence()


def set_status(name: str, status: str, reason: str, actor: str, at: float | None = None):
    """An operator's status change (not a pin: the automation may change it later)."""
    _check_status(status)
    if not reason.strip():
        raise SiteChangeRefused("a reason is required")
    at = time.time() if at is None else at
    site = _site(name)
    if site.pinned:
        raise SiteChangeRefused(f"site {name} is pinned ({site.pin_reason}); unpin it first")
    if change_status(site.id, site.status, status, actor, at, reason=reason) is None:
        raise SiteChangeRefused(f"site {name} changed meanwhile; try again")


def pin(name: str, status: str | None, reason: str, actor: str, at: float | None = None):
    """Pin a site (optionally at a new status): the automation leaves it alone."""
    if status is not None:
        _check_status(status)
    if not reason.strip():
        raise SiteChangeRefused("a pin needs a reason")
    at = time.time() if at is None else at
    site = _site(name)
    new = status or site.status
    since = at if new != site.status else site.status_changed_at
    with database.atomic():
        changed = (Site.update(pinned=True, pin_reason=reason, pinned_by=actor, pinned_at=at,
                               status=new, status_reason=reason, status_changed_at=since)
                   .where(Site.id == site.id, Site.status == site.status).execute())
        if not changed:
            raise SiteChangeRefused(f"site {name} changed meanwhile; try again")
        record(site.id, "pin", site.status, new, actor, at, reason=reason)
        if new != site.status:
            record(site.id, "status", site.status, new, actor, at, reason=f"pinned: {reason}")


def unpin(name: str, actor: str, at: float | None = None) -> None:
    at = time.time() if at is None else at
    site = _site(name)
    if not site.pinned:
        raise SiteChangeRefused(f"site {name} is not pinned")
    with database.atomic():
        Site.update(pinned=False, pin_reason="", pinned_by="", pinned_at=None).where(
            Site.id == site.id).execute()
        record(site.id, "unpin", site.status, site.status, actor, at,
               reason=f"was pinned: {site.pin_reason}")


def set_automation(name: str, enabled: bool, reason: str, actor: str,
                   at: float | None = None) -> None:
    """Opt a site out of (or back into) automatic exclusion and re-inclusion."""
    at = time.time() if at is None else at
    site = _site(name)
    if bool(site.health_automation) == enabled:
        raise SiteChangeRefused(f"site {name} has already opted "
                                f"{'in to' if enabled else 'out of'} automation")
    if not enabled and not reason.strip():
        raise SiteChangeRefused("opting out needs a reason")
    with database.atomic():
        Site.update(health_automation=enabled, automation_reason="" if enabled else reason).where(
            Site.id == site.id).execute()
        record(site.id, "opt-in" if enabled else "opt-out", site.status, site.status, actor, at,
               reason=reason)


def _check_status(status: str) -> None:
    allowed = [s.value for s in SiteStatus]
    if status not in allowed:
        raise SiteChangeRefused(f"{status!r} is not a site status; use one of "
                                + ", ".join(allowed))


def event_dict(event: SiteEvent, site_name: str | None = None) -> dict:
    return {"id": event.id, "site": site_name or event.site.name, "at": event.at,
            "kind": event.kind, "old_status": event.old_status, "new_status": event.new_status,
            "rule": event.rule, "evidence": event.evidence, "reason": event.reason,
            "actor": event.actor, "automatic": bool(event.automatic),
            "policy_version": event.policy_version}
