"""HC_WEB_PROXIES: behind the production proxy the client's address comes from
X-Forwarded-For; without a proxy that header is the client's own word and is ignored."""
from __future__ import annotations

import pytest

from appliance import config
from appliance.models import WebSession
from appliance.web import create_app
from tests.web.conftest import Browser


@pytest.mark.parametrize(("proxies", "address"), [(0, "10.0.0.9"), (1, "192.0.2.7")])
def test_session_address_follows_the_trusted_proxy_headers(app, settings, proxies, address):
    web = create_app(settings.replace(web_proxies=proxies))
    web.config["TESTING"] = True
    client = web.test_client()
    client.environ_base.update(REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="192.0.2.7",
                               HTTP_X_FORWARDED_PROTO="https")
    reply = Browser(client).login("alice")
    assert reply.status_code == 302
    assert WebSession.select().order_by(WebSession.id.desc()).get().address == address


def test_a_forged_chain_gives_only_the_proxy_s_view(app, settings):
    # One proxy replaces X-Forwarded-For (containers/nginx/hc.conf); were a client's header
    # appended instead, only the last hop (the one the proxy saw) would be believed.
    web = create_app(settings.replace(web_proxies=1))
    web.config["TESTING"] = True
    client = web.test_client()
    client.environ_base.update(REMOTE_ADDR="10.0.0.9",
                               HTTP_X_FORWARDED_FOR="127.0.0.1, 198.51.100.4")
    Browser(client).login("alice")
    assert WebSession.select().order_by(WebSession.id.desc()).get().address == "198.51.100.4"


@pytest.mark.parametrize("text", ["-1", "6", "two", ""])
def test_proxy_hops_out_of_range_are_refused(text):
    with pytest.raises(config.ConfigError, match="HC_WEB_PROXIES"):
        config.load({"HC_WEB_PROXIES": text})
