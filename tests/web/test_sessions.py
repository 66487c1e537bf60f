"""Finding 7: sessions are revocable server-side. A copied cookie stops working
after logout, a password change, or a revoke; /account lists the sessions."""
from __future__ import annotations

import time

from appliance import accounts, sessions
from appliance.models import User, WebSession
from tests.web.conftest import PASSWORD, Browser


def _cookie(browser: Browser) -> str:
    return browser.client.get_cookie("hc_session").value


def _replay(app, cookie: str) -> Browser:
    """Another browser holding a copy of the cookie (as a thief would)."""
    thief = Browser(app.test_client())
    thief.client.set_cookie("hc_session", cookie)
    return thief


def _signed_in(browser: Browser) -> bool:
    return browser.client.get("/account").status_code == 200


def test_logout_ends_the_session_on_the_server(app, as_user):
    visitor = as_user("alice")
    copied = _cookie(visitor)
    assert _signed_in(_replay(app, copied))
    visitor.post("/logout")
    assert not _signed_in(_replay(app, copied)), "a logged-out cookie must not sign in"


def test_password_change_ends_every_session(app, as_user):
    visitor = as_user("alice")
    other = Browser(app.test_client())
    other.login("alice")
    copied = _cookie(other)
    visitor.get("/account")
    reply = visitor.post("/account/password", {"current": PASSWORD,
                                               "password": "a new long password"})
    assert reply.status_code == 302
    assert not _signed_in(_replay(app, copied))
    assert _signed_in(visitor), "the browser that changed it stays signed in"
    assert accounts.authenticate("alice", "a new long password", "127.0.0.1") is not None


def test_wrong_current_password_changes_nothing(app, as_user):
    visitor = as_user("alice")
    visitor.get("/account")
    reply = visitor.post("/account/password", {"current": "guess", "password": "x" * 20})
    assert reply.status_code == 400
    assert accounts.authenticate("alice", PASSWORD, "127.0.0.1") is not None


def test_account_lists_sessions_and_one_can_be_ended(app, as_user):
    other = Browser(app.test_client())
    other.login("alice")
    visitor = as_user("alice")
    page = visitor.get("/account").get_data(as_text=True)
    assert page.count("signed in") >= 1 and "this browser" in page
    theirs = WebSession.select().where(WebSession.ended_at.is_null()).order_by(WebSession.id)[0]
    assert visitor.post(f"/account/sessions/{theirs.id}/revoke").status_code == 302
    assert not _signed_in(other) and _signed_in(visitor)


def test_a_user_cannot_end_anothers_session_but_an_admin_can(app, as_user):
    bob = Browser(app.test_client())
    bob.login("bob")
    bobs = WebSession.get(WebSession.user == User.get(User.name == "bob").id)
    alice = as_user("alice")
    alice.get("/account")
    assert alice.post(f"/account/sessions/{bobs.id}/revoke").status_code == 404
    assert _signed_in(bob)
    root = Browser(app.test_client())
    root.login("root")
    assert "bob" in root.get("/account").get_data(as_text=True)
    assert root.post(f"/account/sessions/{bobs.id}/revoke").status_code == 302
    assert not _signed_in(bob)


def test_idle_and_old_sessions_end(db):
    user = accounts.add_user("carol", PASSWORD)
    now = time.time()
    text = sessions.start(user, "password", "127.0.0.1", "tests", now=now)
    assert sessions.lookup(text, now=now + 60).user.name == "carol"
    assert sessions.lookup(text, now=now + 60 + sessions.IDLE_TIMEOUT + 1) is None
    late = now + sessions.MAX_AGE + 1
    WebSession.update(last_seen_at=late).execute()
    assert sessions.lookup(text, now=late) is None
    assert sessions.lookup("not a session") is None and sessions.lookup(None) is None
