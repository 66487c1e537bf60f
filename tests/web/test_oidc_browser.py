"""Single sign-on in a real Chromium against a real OpenID Provider (the npm
package oidc-provider, tests/web/oidc/provider.mjs) and the web UI under gunicorn:
an admin by group logs in, makes a stress test in three clicks, approves it and
logs out of both; a plain user by group gets no admin rights; a state tampered
on the way back from the provider is refused."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from urllib.parse import urljoin

import pytest

from appliance.models import Test, User
from tests.conftest import ARTIFACTS, free_port, require
from tests.integration.harness import running_appliance, wait_for
from tests.web.test_browser import _loads

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PROVIDER_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "oidc")
CLIENT_ID, CLIENT_SECRET = "hc-appliance", "secret-of-the-browser-test-client"
ACCOUNTS = {"ada": {"preferred_username": "ada", "name": "Ada", "groups": ["hc-admins"]},
            "bob": {"preferred_username": "bob", "name": "Bob", "groups": ["physicists"]}}


@pytest.fixture
def web_url() -> str:
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
def provider(web_url, tmp_path):
    """The provider's issuer URL; the provider runs until the test ends."""
    if not shutil.which("node"):
        require("OIDC", "Node.js is not installed (apt-get install nodejs npm)")
    if not os.path.isdir(os.path.join(PROVIDER_DIR, "node_modules", "oidc-provider")):
        require("OIDC", "oidc-provider is not installed (cd tests/web/oidc && npm install)")
    client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
              "redirect_uris": [f"http://{web_url}/login/sso/callback"],
              "post_logout_redirect_uris": [f"http://{web_url}/"]}
    environ = dict(os.environ, PORT=str(free_port()), CLIENT=json.dumps(client),
                   ACCOUNTS=json.dumps(ACCOUNTS))
    log = open(tmp_path / "provider.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(["node", "provider.mjs"], cwd=PROVIDER_DIR, env=environ,
                               stdout=subprocess.PIPE, stderr=log, text=True)
    first = []
    reader = threading.Thread(target=lambda: first.append(process.stdout.readline()))
    reader.start()
    reader.join(30)
    try:
        assert first and first[0].startswith("listening "), (tmp_path / "provider.log").read_text()
        yield first[0].split()[1]
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@pytest.fixture
def appliance(tmp_path, web_url, provider):
    with running_appliance(str(tmp_path / "data"), HC_WEB_BIND=web_url, HC_WEB_WORKERS="1",
                           HC_OIDC_ISSUER=provider, HC_OIDC_CLIENT_ID=CLIENT_ID,
                           HC_OIDC_CLIENT_SECRET=CLIENT_SECRET,
                           HC_OIDC_SCOPES="openid profile groups",
                           HC_OIDC_ADMIN_GROUPS="hc-admins") as instance:
        yield instance


def _sso_log_in(page, url: str, account: str) -> None:
    page.goto(url + "/login")
    page.click("#sso")
    page.wait_for_selector("input[name=login]")  # the provider's own login form
    assert not page.url.startswith(url)
    page.fill("input[name=login]", account)
    page.fill("input[name=password]", "any password: the provider's development login")
    page.click("button:text('Sign-in')")
    page.wait_for_url(url + "/")


def test_single_sign_on_in_the_browser(appliance, browser):
    appliance.hc("site", "add", "site-a", "--backend", "local")
    template = {"name": "stress-sso", "duration": "1h", "sites": ["site-a"],
                "load": {"max_running": 1}, "job": {"command": "echo hi"}}
    appliance.hc("template", "add", "-", stdin=json.dumps(template))
    appliance.start("web", "web")
    url = "http://" + appliance.environ["HC_WEB_BIND"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    wait_for(lambda: _loads(page, url + "/healthz"), 20, what="the web UI")

    _sso_log_in(page, url, "ada")
    assert page.locator("header a[title=admin]:text('ada')").count() == 1
    assert User.get(User.name == "ada").role == "admin"
    page.click("text=New stress test")
    page.click("a.choose:text('stress-sso')")                         # click 1
    assert page.locator("input[name=sites][value=site-a]").is_checked()  # click 2: defaults
    page.click("button:text('Submit for approval')")                  # click 3
    test = wait_for(lambda: Test.get_or_none(Test.owner == "ada"), 10, what="ada's test")
    page.goto(url + "/approvals")
    page.click(f"form[action='/tests/{test.id}/approve'] button")    # an admin's right
    wait_for(lambda: Test.get_by_id(test.id).state != "unapproved", 10, what="approval")
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, "sso-approved.png"), full_page=True)

    page.click("form.inline button:text('log out')")
    page.click("button:text('Yes, sign me out')")  # the provider asks (RP-initiated logout)
    page.wait_for_url(url + "/*")
    assert page.locator("header a:text('log in')").count() == 1
    # The provider's session ended too: the next login asks for credentials again.
    _sso_log_in(page, url, "bob")
    assert page.locator("header a[title=user]:text('bob')").count() == 1
    assert User.get(User.name == "bob").role == "user"
    page.click("form.inline button:text('log out')")
    page.click("button:text('Yes, sign me out')")
    page.wait_for_url(url + "/*")

    # A state changed on the way back from the provider: refused, nobody logged in.
    # (Playwright routes no redirect hops: the handler follows the provider's
    # redirects itself, with the page's cookies, and hands the browser a changed one.)
    def tamper(route):
        if route.request.method != "POST":  # the provider's login form, not its answer
            return route.continue_()
        hop = route.fetch(max_redirects=0)
        while not hop.headers["location"].startswith(url):
            hop = page.request.get(urljoin(route.request.url, hop.headers["location"]),
                                   max_redirects=0)
        route.fulfill(status=303, headers={
            "location": hop.headers["location"].replace("state=", "state=x")})
    page.route("**/interaction/*", tamper)
    page.goto(url + "/login")
    page.click("#sso")
    page.fill("input[name=login]", "ada")
    page.fill("input[name=password]", "any")
    page.click("button:text('Sign-in')")
    page.wait_for_selector("text=single sign-on failed")
    assert "State not equal" in page.content()
    page.unroute("**/interaction/*")
    page.goto(url + "/")
    assert page.locator("header a:text('log in')").count() == 1
    page.close()
