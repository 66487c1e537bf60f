"""Login, logout, sessions, CSRF, the login rate limit, API tokens, and the
setting that makes reading need a login too."""
from __future__ import annotations

import contextlib
import time

from appliance import accounts
from appliance.models import ApiToken, LoginAttempt, Test, User
from appliance.web import create_app
from tests.web.conftest import PASSWORD, Browser


def test_login_sets_a_fresh_session_and_logout_ends_it(visitor):
    visitor.get("/login")
    before = visitor.token
    reply = visitor.post("/login", {"name": "alice", "password": PASSWORD, "next": "/tests/"})
    assert reply.status_code == 302 and reply.headers["Location"] == "/tests/"
    page = visitor.get("/").get_data(as_text=True)
    assert "alice" in page and "log out" in page
    assert visitor.token != before, "a login starts a new session (no fixation)"
    assert visitor.post("/logout").status_code == 302
    assert "log in" in visitor.get("/").get_data(as_text=True)
    assert visitor.get("/account").status_code == 302


def test_session_cookie_is_http_only_and_same_site(visitor):
    reply = visitor.login("alice")
    cookie = reply.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "hc_session=" in cookie


def test_secure_cookie_outside_development(db, settings):
    key = "k3y-0123456789abcdefghijklmnopqrstuvwxyz"
    app = create_app(settings.replace(dev=False, web_secure_cookies=True, secret_key=key))
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_wrong_password_and_unknown_user_say_the_same(visitor):
    for name, password in (("alice", "wrong password"), ("nobody", PASSWORD)):
        reply = visitor.login(name, password)
        assert reply.status_code == 401
        assert "wrong name or password" in reply.get_data(as_text=True)
    assert LoginAttempt.select().where(~LoginAttempt.succeeded).count() == 2


def test_login_never_redirects_off_site(visitor):
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"):
        visitor.get("/login")
        reply = visitor.post("/login", {"name": "alice", "password": PASSWORD, "next": target})
        assert reply.headers["Location"] == "/", target


def test_failed_logins_are_rate_limited_per_account(visitor):
    for _ in range(accounts.LOGIN_MAX_FAILURES):
        assert visitor.login("alice", "guess").status_code == 401
    refused = visitor.login("alice")  # even the right password, for a while
    assert refused.status_code == 429 and "too many failed logins" in refused.get_data(as_text=True)


def test_rate_limit_window_passes(db, settings, app):
    now = time.time()
    for _ in range(accounts.LOGIN_MAX_FAILURES):
        assert accounts.authenticate("alice", "guess", "10.0.0.1", now=now) is None
    assert accounts.authenticate("alice", PASSWORD, "10.0.0.1", now=now + accounts.LOGIN_WINDOW
                                 + 1).name == "alice"


def test_guessing_from_elsewhere_does_not_lock_the_owner_out(db, app):
    """Finding 7: five wrong passwords from one address no longer lock the admin out."""
    now = time.time()
    for _ in range(accounts.LOGIN_MAX_FAILURES * 3):
        with contextlib.suppress(accounts.LoginRefused):
            accounts.authenticate("root", "guess", "10.6.6.6", now=now)
    assert accounts.authenticate("root", PASSWORD, "10.0.0.7", now=now + 1).name == "root"


def test_delays_grow_with_each_failure_past_the_limit(db, app):
    now = time.time()
    for _ in range(accounts.LOGIN_MAX_FAILURES):
        accounts.authenticate("alice", "guess", "10.0.0.3", now=now)
    waits = []
    for _ in range(4):
        moment = now + 1
        while True:   # the first moment a try is allowed again
            try:
                accounts.authenticate("alice", "guess", "10.0.0.3", now=moment)
                break
            except accounts.LoginRefused:
                moment += 1
        waits.append(moment - now)
        now = moment
    assert waits == sorted(waits) and waits[-1] >= 4 * waits[0] > 0


def test_rate_limit_per_address(db, app):
    now = time.time()
    for number in range(accounts.LOGIN_MAX_PER_ADDRESS):
        accounts.authenticate(f"user{number}", "guess", "10.0.0.9", now=now)
    try:
        accounts.authenticate("alice", PASSWORD, "10.0.0.9", now=now)
    except accounts.LoginRefused:
        pass
    else:
        raise AssertionError("an address guessing many accounts is refused too")


def test_every_form_needs_its_csrf_token(as_user):
    visitor = as_user("alice")
    targets = ["/logout", "/account/tokens", "/create/stress-ping", "/tests/1/cancel",
               "/tests/1/load", "/account/tokens/1/revoke"]
    for url in targets:
        for data in ({}, {"csrf_token": "forged"}):
            reply = visitor.post(url, data, csrf=False)
            assert reply.status_code == 400, url
            assert "CSRF" in reply.get_data(as_text=True)
    assert Test.select().count() == 0 and ApiToken.select().count() == 0
    assert "alice" in visitor.get("/").get_data(as_text=True), "still logged in"


def test_login_form_needs_csrf_too(visitor):
    reply = visitor.post("/login", {"name": "alice", "password": PASSWORD}, csrf=False)
    assert reply.status_code == 400


def test_tokens_made_shown_once_stored_hashed_and_revoked(as_user, app):
    visitor = as_user("alice")
    page = visitor.post("/account/tokens", {"name": "gitlab <ci>"}).get_data(as_text=True)
    text = page.split('id="new-token">')[1].split("<")[0]
    assert text.startswith("hc_") and "gitlab &lt;ci&gt;" in page
    stored = ApiToken.get()
    assert stored.token_hash != text and text not in stored.token_hash
    assert text not in visitor.get("/account").get_data(as_text=True), "shown only once"
    api = app.test_client()
    header = {"Authorization": f"Bearer {text}"}
    assert api.get("/api/v1/whoami", headers=header).get_json()["user"]["name"] == "alice"
    assert visitor.post(f"/account/tokens/{stored.id}/revoke").status_code == 302
    assert api.get("/api/v1/whoami", headers=header).status_code == 401
    assert visitor.post("/account/tokens", {"name": " "}).status_code == 400


def test_a_user_cannot_revoke_someone_elses_token(as_user, token_for):
    token_for("bob")
    bobs = ApiToken.get()
    visitor = as_user("alice")
    visitor.get("/account")
    assert visitor.post(f"/account/tokens/{bobs.id}/revoke").status_code == 404
    assert ApiToken.get_by_id(bobs.id).revoked_at is None


def test_bad_or_missing_tokens_are_refused(app):
    api = app.test_client()
    for header in ("Bearer nonsense", "Bearer hc_unknown", "Basic YWxpY2U6eA==", "Bearer"):
        reply = api.get("/api/v1/tests", headers={"Authorization": header})
        assert reply.status_code == 401 and "error" in reply.get_json(), header


def test_require_login_setting(db, settings, app):
    closed = create_app(settings.replace(web_require_login=True))
    closed.config["TESTING"] = True
    client = closed.test_client()
    assert client.get("/tests/").status_code == 302
    assert client.get("/api/v1/tests").status_code == 401
    for url in ("/healthz", "/readyz", "/login", "/api/v1/openapi.json"):
        assert client.get(url).status_code == 200, url
    assert client.get("/metrics").status_code == 401, "metrics need a token (finding 7)"
    visitor = Browser(client)
    assert visitor.login("bob").status_code == 302
    assert client.get("/tests/").status_code == 200
    text = accounts.make_token(User.get(User.name == "bob"), "ci")[1]
    assert client.get("/api/v1/tests", headers={"Authorization": f"Bearer {text}"}) \
        .status_code == 200
    metrics = client.get("/metrics", headers={"Authorization": f"Bearer {text}"})
    assert metrics.status_code == 200 and "hc_" in metrics.get_data(as_text=True)
