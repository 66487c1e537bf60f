"""Webhooks: each site status change, and each change of a site's credential
(warning, expired, usable again), POSTed as JSON to every active URL.

Deliveries are rows queued with the event (see events.record); the server agent
sends the due ones, retrying with a doubling back-off until MAX_ATTEMPTS, and
every attempt's outcome stays on the row: that is the delivery record.
"""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from urllib.parse import urlparse

from appliance import __version__
from appliance.errors import BadInput
from appliance.health.events import event_dict
from appliance.models import Site, SiteEvent, Webhook, WebhookDelivery

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 6
FIRST_RETRY = 10.0  # seconds; then 20, 40, 80, 160
TIMEOUT = 5.0  # seconds per request
BATCH = 50  # deliveries per pass, so a slow receiver cannot stall the server agent long


def add(url: str, actor: str) -> Webhook:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise BadInput(f"{url!r} is not an http:// or https:// URL")
    return Webhook.create(url=url, created_by=actor)


def remove(webhook_id: int) -> None:
    if not Webhook.delete().where(Webhook.id == webhook_id).execute():
        raise BadInput(f"no webhook {webhook_id}")


# What a delivery says it is, by the kind of site event it carries.
TYPES = {"status": "site.status_changed", "credential": "site.credential_changed"}


def payload(event: SiteEvent, site_name: str) -> dict:
    return {"type": TYPES.get(event.kind, f"site.{event.kind}")} | event_dict(event, site_name)


def deliver_due(now: float, timeout: float = TIMEOUT, batch: int = BATCH) -> int:
    """Send the deliveries that are due; returns how many succeeded. A receiver
    that fails once in a pass gets no more attempts in that pass."""
    due = (WebhookDelivery.select(WebhookDelivery, Webhook, SiteEvent, Site)
           .join(Webhook).switch(WebhookDelivery).join(SiteEvent).join(Site)
           .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now,
                  Webhook.active)
           .order_by(WebhookDelivery.event, WebhookDelivery.id).limit(batch))
    failing: set[int] = set()
    delivered = 0
    for delivery in list(due):
        if delivery.webhook_id in failing:
            continue
        if _attempt(delivery, timeout, now):
            delivered += 1
        else:
            failing.add(delivery.webhook_id)
    return delivered


def _attempt(delivery: WebhookDelivery, timeout: float, now: float) -> bool:
    body = json.dumps(payload(delivery.event, delivery.event.site.name)).encode()
    request = urllib.request.Request(
        delivery.webhook.url, data=body, method="POST",
        headers={"Content-Type": "application/json", "User-Agent": f"hc-appliance/{__version__}",
                 "X-HC-Event": str(delivery.event_id), "X-HC-Delivery": str(delivery.id)})
    status, error = None, ""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as failure:
        status, error = failure.code, f"HTTP {failure.code} {failure.reason}"
    except (urllib.error.URLError, OSError) as failure:
        error = str(getattr(failure, "reason", failure))
    _record(delivery, status, error, now)
    return not error


def _record(delivery: WebhookDelivery, status: int | None, error: str, at: float) -> None:
    attempts = delivery.attempts + 1
    values = dict(attempts=attempts, last_attempt_at=at, last_status=status, last_error=error)
    if not error:
        values.update(state="delivered", delivered_at=at)
    elif attempts >= MAX_ATTEMPTS:
        values.update(state="failed")
        log.warning("webhook %s: gave up on event %s after %d attempts: %s",
                    delivery.webhook.url, delivery.event_id, attempts, error)
    else:
        values.update(next_attempt_at=at + FIRST_RETRY * 2 ** (attempts - 1))
    WebhookDelivery.update(**values).where(WebhookDelivery.id == delivery.id).execute()


def delivery_dict(delivery: WebhookDelivery) -> dict:
    return {"id": delivery.id, "webhook": delivery.webhook_id, "event": delivery.event_id,
            "state": delivery.state, "attempts": delivery.attempts,
            "next_attempt_at": delivery.next_attempt_at,
            "last_attempt_at": delivery.last_attempt_at, "last_status": delivery.last_status,
            "last_error": delivery.last_error, "delivered_at": delivery.delivered_at}
