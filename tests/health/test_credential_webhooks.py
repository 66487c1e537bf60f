"""A credential's warnings reach the webhooks (a real HTTP receiver), the index,
the site page, /metrics and the log of a running test; with a fixed clock, a
20-second proxy going and coming back is announced once each way."""
from __future__ import annotations

import time

from appliance import credentials
from appliance.agents.server import ServerAgent
from appliance.health import webhooks
from appliance.models import SiteEvent, TestLog
from tests.factories import make_running_test, make_site, make_template
from tests.gridca import user_certificate

T0 = float(int(time.time()))


def test_a_short_proxy_expiring_and_renewed_is_posted_once_each_way(db, settings, receiver):
    root = settings.secrets_dir
    cert, key = user_certificate(T0)
    credentials.add_x509("robot", cert, key, T0, "tester", root, proxy_lifetime=20,
                         renew_fraction=0.9, refuse_before=5)
    site = make_site("grid", backend="fake", credential="robot")
    make_site("elsewhere", backend="fake")
    webhooks.add(receiver.url, "cli:op")
    assert credentials.announce_to_sites(T0) == 0, "a usable credential is news to no one"
    for moment in (T0 + 16, T0 + 18, T0 + 25):  # 4 s left: unusable from then on
        credentials.announce_to_sites(moment)
    credentials.renew("robot", T0 + 30, "tester", root)
    credentials.announce_to_sites(T0 + 31)
    credentials.announce_to_sites(T0 + 32)
    assert webhooks.deliver_due(T0 + 40) == 2
    first, second = (post["body"] for post in receiver.received)
    assert first["type"] == second["type"] == "site.credential_changed"
    assert first["site"] == "grid" and first["rule"] == "credential robot expired"
    assert "proxy expired or about to" in first["reason"]
    assert second["rule"] == "credential robot ok" and "valid until" in second["reason"]
    assert not SiteEvent.select().where(SiteEvent.site != site.id).exists()
    assert credentials.announce_to_sites(T0 + 33) == 0, "the database remembers what was said"


def test_an_ending_certificate_is_shown_everywhere_and_posted(db, settings, receiver):
    from appliance import accounts
    from appliance.web import create_app
    from tests.web.conftest import PASSWORD, Browser
    now = time.time()
    cert, key = user_certificate(now, days=2)  # ends within the week of warning
    credentials.add_x509("robot", cert, key, now, "tester", settings.secrets_dir)
    site = make_site("grid", backend="fake", credential="robot", run_seconds=60)
    test = make_running_test(make_template(sites=[site]), settings.hostname, now)
    webhooks.add(receiver.url, "cli:op")
    server = ServerAgent(settings)
    server.keep_credentials(now)
    server.keep_credentials(now + 1)
    assert webhooks.deliver_due(now + 2) == 1
    (post,) = receiver.received
    assert post["body"]["rule"] == "credential robot warning"
    assert "certificate expires" in post["body"]["reason"]
    (line,) = TestLog.select().where(TestLog.test == test.id, TestLog.severity == "warning")
    assert "credential robot: certificate expires" in line.message
    accounts.add_user("root", PASSWORD, "admin")
    client = Browser(create_app(settings).test_client())
    client.login("root")
    for url in ("/", "/sites/grid"):
        page = client.client.get(url).get_data(as_text=True)
        assert "credential robot: certificate expires" in page, url
    metrics = client.client.get("/metrics").get_data(as_text=True)
    assert 'hc_credential_state{credential="robot"} 1' in metrics
