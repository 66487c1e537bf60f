"""Every route, as an anonymous visitor, a user and an admin. The table below
must name each route of the app: a new route needs a decision on who may use it."""
from __future__ import annotations

import re

import pytest

from appliance import lifecycle
from appliance.models import Template, Test
from appliance.states import TestState
from tests.web.conftest import Browser

ANON, USER, ADMIN = "anonymous", "alice", "root"
OK, LOGIN = 200, 302
# rule -> (method, URL to try, status for anonymous, for the user, for the admin).
# POSTs here are tried with a valid CSRF token; "bob" owns the test they act on.
ROUTES = {
    "/": ("GET", "/", OK, OK, OK),
    "/tests/": ("GET", "/tests/?state=running&page=2", OK, OK, OK),
    "/tests/<int:test_id>": ("GET", "/tests/{test}", OK, OK, OK),
    "/sites/<name>": ("GET", "/sites/alpha", OK, OK, OK),
    "/tests/<int:test_id>/plots/<name>.csv": ("GET", "/tests/{test}/plots/wall.csv", OK, OK, OK),
    "/sites/<name>/jobs": ("GET", "/sites/alpha/jobs?start=946684800&end=4102444800", OK, OK, OK),
    "/robot": ("GET", "/robot?days=50", OK, OK, OK),
    "/compare": ("GET", "/compare", OK, OK, OK),
    "/compare.csv": ("GET", "/compare.csv?a=test:{test}&b=test:{test}", 400, 400, 400),  # no jobs
    "/rankings": ("GET", "/rankings", OK, OK, OK),
    "/sites/<name>/evolution.csv": ("GET", "/sites/alpha/evolution.csv?template=stress-ping",
                                    OK, OK, OK),
    "/admin/credentials": ("GET", "/admin/credentials", LOGIN, 403, OK),
    "/templates/": ("GET", "/templates/", OK, OK, OK),
    "/testdirs/": ("GET", "/testdirs/", 404, 404, 404),  # no work area made yet
    "/testdirs/<path:relative>": ("GET", "/testdirs/../../etc/passwd", 404, 404, 404),
    "/static/<path:filename>": ("GET", "/static/style.css", OK, OK, OK),
    "/healthz": ("GET", "/healthz", OK, OK, OK),
    "/readyz": ("GET", "/readyz", OK, OK, OK),
    "/metrics": ("GET", "/metrics", OK, OK, OK),
    "/login": ("GET", "/login", OK, OK, OK),
    # Single sign-on is not set up in this app (tests/web/test_oidc.py sets it up).
    "/login/sso": ("GET", "/login/sso", 404, 404, 404),
    "/login/sso/callback": ("GET", "/login/sso/callback?code=x&state=y", 404, 404, 404),
    "/logout": ("POST", "/logout", LOGIN, LOGIN, LOGIN),
    "/account": ("GET", "/account", LOGIN, OK, OK),
    "/account/tokens": ("POST", "/account/tokens", LOGIN, 400, 400),  # no name given
    "/account/tokens/<int:token_id>/revoke": ("POST", "/account/tokens/{token}/revoke",
                                              LOGIN, 404, 302),  # bob's token
    "/account/password": ("POST", "/account/password", LOGIN, 400, 400),  # wrong password
    "/account/sessions/<int:session_id>/revoke": ("POST", "/account/sessions/99999/revoke",
                                                  LOGIN, 404, 404),
    "/create": ("GET", "/create", LOGIN, OK, OK),
    "/create/<name>": ("GET", "/create/stress-ping", LOGIN, OK, OK),
    "/approvals": ("GET", "/approvals", LOGIN, OK, OK),
    "/tests/<int:test_id>/<action>": ("POST", "/tests/{test}/approve", LOGIN, 403, 303),
    "/tests/<int:test_id>/load": ("POST", "/tests/{test}/load", LOGIN, 403, 400),
    "/api/v1/openapi.json": ("GET", "/api/v1/openapi.json", OK, OK, OK),
    "/api/v1/sites": ("GET", "/api/v1/sites", OK, OK, OK),
    "/api/v1/sites/<name>": ("GET", "/api/v1/sites/alpha", OK, OK, OK),
    "/api/v1/sites/<name>/history": ("GET", "/api/v1/sites/alpha/history?days=365",
                                     OK, OK, OK),
    "/api/v1/templates": ("GET", "/api/v1/templates", OK, OK, OK),
    "/api/v1/templates/<name>": ("PUT", "/api/v1/templates/x", 401, 403, 415),  # no body
    "/api/v1/tests": ("GET", "/api/v1/tests?per_page=5", OK, OK, OK),
    "/api/v1/tests/<int:test_id>": ("GET", "/api/v1/tests/{test}", OK, OK, OK),
    "/api/v1/tests/<int:test_id>/jobs": ("GET", "/api/v1/tests/{test}/jobs", OK, OK, OK),
    "/api/v1/tests/<int:test_id>/log": ("GET", "/api/v1/tests/{test}/log", OK, OK, OK),
    "/api/v1/tests/<int:test_id>/export": ("GET", "/api/v1/tests/{test}/export", OK, OK, OK),
    "/api/v1/tests/<int:test_id>/<any('send-for-approval', approve, cancel, clone, keep, "
    "unkeep):action>":
        ("POST", "/api/v1/tests/{test}/cancel", 401, 403, 200),
    "/api/v1/tests/<int:test_id>/sites/<site>": ("PATCH", "/api/v1/tests/{test}/sites/alpha",
                                                 401, 415, 415),  # no body
    "/api/v1/sites/<name>#PUT": ("PUT", "/api/v1/sites/y", 401, 403, 415),
    "/api/v1/tests#POST": ("POST", "/api/v1/tests", 401, 415, 415),
    "/api/v1/health": ("GET", "/api/v1/health", OK, OK, OK),
    "/api/v1/incidents": ("GET", "/api/v1/incidents", OK, OK, OK),
    "/api/v1/robot": ("GET", "/api/v1/robot?days=3", OK, OK, OK),
    "/api/v1/compare": ("GET", "/api/v1/compare?a=test:{test}&b=test:{test}", 400, 400, 400),
    "/api/v1/whoami": ("GET", "/api/v1/whoami", OK, OK, OK),
}


def _rules(app) -> set[str]:
    seen = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<int\([^)]*\):", "<int:", rule.rule)  # ids capped at 64 bits
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            seen.add(f"{path}#{method}" if (path, method) in _SECOND else path)
    return seen


# Rules that carry two methods on two routes: the second is keyed "rule#METHOD".
_SECOND = {("/api/v1/sites/<name>", "PUT"), ("/api/v1/tests", "POST")}


def test_every_route_is_in_the_table(app):
    assert _rules(app) == set(ROUTES)


@pytest.mark.parametrize("who", [ANON, USER, ADMIN])
def test_each_route_for_each_kind_of_visitor(app, token_for, who):
    template = Template.get(Template.name == "stress-ping")
    test = lifecycle.create_test(template, 1e9, 1e9 + 60, "bob", state=TestState.UNAPPROVED)
    from appliance import accounts
    from appliance.models import User
    token_row, _ = accounts.make_token(User.get(User.name == "bob"), "bob's")
    visitor = Browser(app.test_client())
    headers = {}
    if who != ANON:
        assert visitor.login(who).status_code == 302
        headers = {"Authorization": f"Bearer {token_for(who)}"}
    expected_column = {ANON: 2, USER: 3, ADMIN: 4}[who]
    for key, row in ROUTES.items():
        method, url = row[0], row[1].format(test=test.id, token=token_row.id)
        visitor.get("/login")  # a fresh CSRF token for the session
        if url.startswith("/api/"):
            reply = visitor.client.open(url, method=method, headers=headers)
        elif method == "POST":
            reply = visitor.post(url)
            if key == "/logout" and who != ANON:
                assert visitor.login(who).status_code == 302
        else:
            reply = visitor.get(url)
        assert reply.status_code == row[expected_column], (who, method, url, reply.status_code)
        if key.endswith("/cancel") or "<action>" in key:
            Test.update(state=TestState.UNAPPROVED.value).where(Test.id == test.id).execute()


def test_numbers_beyond_64_bits_are_not_server_errors(as_user):
    visitor = as_user("root")
    huge = 10**20
    for url in (f"/tests/{huge}", f"/tests/?page={huge}", f"/tests/?page=-{huge}",
                f"/api/v1/tests/{huge}", f"/api/v1/tests?page={huge}"):
        assert visitor.get(url).status_code in (200, 400, 404), url
    for url in (f"/tests/{huge}/cancel", f"/tests/{huge}/load",
                f"/account/tokens/{huge}/revoke"):
        assert visitor.post(url).status_code == 404, url


SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
EVENT_ATTRIBUTE = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


def test_every_page_carries_the_security_headers_and_no_inline_script(app):
    """Finding 7: a Content-Security-Policy without inline script, nosniff, no framing,
    a same-origin Referrer-Policy, on every GET route of the table (HTML, JSON, CSV,
    errors) as an admin sees them; the HTML pages hold no script but the app's files."""
    template = Template.get(Template.name == "stress-ping")
    test = lifecycle.create_test(template, 1e9, 1e9 + 60, "bob", state=TestState.UNAPPROVED)
    visitor = Browser(app.test_client())
    assert visitor.login(ADMIN).status_code == 302
    for key, (method, url, *_) in ROUTES.items():
        if method != "GET":
            continue
        reply = visitor.get(url.format(test=test.id, token=0))
        headers = reply.headers
        policy = dict(part.strip().split(" ", 1)
                      for part in headers.get("Content-Security-Policy", "").split(";"))
        assert policy.get("script-src") == "'self'", (key, policy)
        assert policy.get("frame-ancestors") == "'none'" and policy.get("object-src") == "'none'"
        assert "unsafe-eval" not in headers["Content-Security-Policy"], key
        assert headers.get("X-Content-Type-Options") == "nosniff", key
        assert headers.get("X-Frame-Options") == "DENY", key
        assert headers.get("Referrer-Policy") == "same-origin", key
        if reply.mimetype == "text/html":
            page = reply.get_data(as_text=True)
            assert all("src=" in attributes for attributes in SCRIPT_TAG.findall(page)), key
            assert not EVENT_ATTRIBUTE.search(page), (key, EVENT_ATTRIBUTE.search(page))
