"""Webhook delivery to a real HTTP server on 127.0.0.1: payload, retries with
back-off, giving up, and the delivery record."""
from __future__ import annotations

import pytest
from worlds import NOW

from appliance.health import events, views, webhooks
from appliance.models import WebhookDelivery


def test_status_change_is_posted_as_json(world, receiver):
    site = world.site("S0")
    hook = webhooks.add(receiver.url, "cli:op")
    events.set_status("S0", "offline", "power cut", "cli:op", at=NOW)
    assert webhooks.deliver_due(NOW) == 1
    [post] = receiver.received
    body = post["body"]
    assert body["type"] == "site.status_changed"
    assert (body["site"], body["old_status"], body["new_status"]) == ("S0", "online", "offline")
    assert (body["reason"], body["actor"], body["automatic"]) == ("power cut", "cli:op", False)
    assert post["headers"]["Content-Type"] == "application/json"
    delivery = WebhookDelivery.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)
    assert post["headers"]["X-Hc-Delivery"] == str(delivery.id)
    assert views.webhooks()["webhooks"][0]["deliveries"] == {"delivered": 1}
    assert hook.id == views.deliveries()["deliveries"][0]["webhook"]
    assert site.id


def test_failures_are_retried_with_back_off_then_given_up(world, receiver):
    world.site("S0")
    webhooks.add(receiver.url, "cli:op")
    events.set_status("S0", "offline", "power cut", "cli:op", at=NOW)
    receiver.replies = [500, 503]
    assert webhooks.deliver_due(NOW) == 0
    delivery = WebhookDelivery.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("pending", 1, 500)
    assert delivery.next_attempt_at == NOW + webhooks.FIRST_RETRY
    assert webhooks.deliver_due(NOW + 5) == 0 and len(receiver.received) == 1  # not yet due
    assert webhooks.deliver_due(NOW + 10) == 0
    assert WebhookDelivery.get().next_attempt_at == NOW + 10 + 2 * webhooks.FIRST_RETRY
    assert webhooks.deliver_due(NOW + 30) == 1
    delivery = WebhookDelivery.get()
    assert (delivery.state, delivery.attempts, delivery.last_error) == ("delivered", 3, "")
    assert [p["status"] for p in receiver.received] == [500, 503, 200]


def test_unreachable_receiver_is_given_up_after_max_attempts(world, receiver):
    world.site("S0")
    url = receiver.url
    receiver.shutdown()
    receiver.server_close()  # nothing listens there any more
    webhooks.add(url, "cli:op")
    events.set_status("S0", "offline", "power cut", "cli:op", at=NOW)
    now = NOW
    for _ in range(webhooks.MAX_ATTEMPTS):
        webhooks.deliver_due(now)
        now += 10_000
    delivery = WebhookDelivery.get()
    assert (delivery.state, delivery.attempts) == ("failed", webhooks.MAX_ATTEMPTS)
    assert delivery.last_error and delivery.last_status is None
    assert webhooks.deliver_due(now) == 0


def test_only_status_changes_are_sent_and_bad_urls_refused(world, receiver):
    world.site("S0")
    webhooks.add(receiver.url, "cli:op")
    events.set_automation("S0", False, "manual", "cli:op", at=NOW)
    events.pin("S0", None, "checking", "cli:op", at=NOW)
    assert WebhookDelivery.select().count() == 0
    with pytest.raises(ValueError, match="not an http"):
        webhooks.add("ftp://127.0.0.1/x", "cli:op")
