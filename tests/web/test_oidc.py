"""Single sign-on against a provider whose ID tokens the test shapes (see
signing_provider.py): the appliance's real client, real HTTP, real signatures.
A good token logs in; a tampered state, a wrong audience or issuer, an expired
token, a wrong nonce and a token signed with a key the provider never published
are each refused, with nothing changed."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from appliance import accounts, config
from appliance.models import SsoIdentity, User
from tests.web.conftest import PASSWORD, Browser
from tests.web.signing_provider import CLIENT_ID, CLIENT_SECRET, SigningProvider


@pytest.fixture
def provider():
    serving = SigningProvider()
    yield serving
    serving.close()


@pytest.fixture
def sso_environ(tmp_path, provider) -> dict:
    return {"HC_DATA_DIR": str(tmp_path / "data"), "HC_HOSTNAME": "test-host",
            "HC_OIDC_ISSUER": provider.issuer, "HC_OIDC_CLIENT_ID": CLIENT_ID,
            "HC_OIDC_CLIENT_SECRET": CLIENT_SECRET, "HC_OIDC_SCOPES": "openid profile groups",
            "HC_OIDC_ADMIN_GROUPS": "hc-admins, hc-operators"}


@pytest.fixture
def settings(sso_environ) -> config.Config:
    return config.load(sso_environ)


def sso_login(visitor: Browser, state=None):
    """The browser's part of the flow: appliance -> provider -> appliance."""
    reply = visitor.client.get("/login/sso?next=/tests/")
    assert reply.status_code == 302, reply.get_data(as_text=True)
    answer = requests.get(reply.headers["Location"], allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(back.query).items()}
    if state is not None:
        query["state"] = state(query["state"])
    return visitor.client.get(f"{back.path}?{urlencode(query)}")


def logged_in(visitor: Browser) -> bool:
    return visitor.client.get("/account").status_code == 200


def test_first_login_makes_the_user_an_admin_group_makes_an_admin(app, visitor, provider):
    reply = sso_login(visitor)
    assert reply.status_code == 302 and reply.headers["Location"] == "/tests/"
    user = User.get(User.name == "ada")
    assert user.role == "admin" and user.password_hash == ""
    assert visitor.client.get("/account").status_code == 200
    assert visitor.client.get("/approvals").status_code == 200
    sent = provider.authorize_requests[-1]
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    assert sent["scope"] == "openid profile groups" and sent["nonce"]
    # No password opens an account made by single sign-on.
    for password in ("", PASSWORD):
        assert accounts.authenticate("ada", password, "127.0.0.9") is None


def test_the_role_follows_the_groups_at_every_login(app, visitor, provider):
    assert sso_login(visitor).status_code == 302
    first = User.get(User.name == "ada")
    visitor.post("/logout")
    provider.claims["groups"] = ["physicists"]
    assert sso_login(visitor).status_code == 302
    assert User.get_by_id(first.id).role == "user"
    provider.claims["groups"] = "hc-operators"  # one group as a plain string
    assert sso_login(visitor).status_code == 302
    assert User.get_by_id(first.id).role == "admin"
    assert SsoIdentity.select().count() == 1 and User.select().count() == 4


def test_groups_only_in_userinfo_are_read_from_there(app, visitor, provider):
    provider.changes = {"groups": None, "preferred_username": None}
    assert sso_login(visitor).status_code == 302
    assert User.get(User.name == "ada").role == "admin"


def _state_tampered(state: str) -> str:
    return state[:-1] + ("A" if state[-1] != "A" else "B")


# case -> (how the provider's answer is spoilt, how the state is changed, the refusal)
REFUSALS = {
    "tampered state": (lambda p: None, _state_tampered, "State not equal"),
    "wrong audience": (lambda p: p.changes.update(aud="another-client"), None, "'aud'"),
    "wrong audience, our client as azp": (
        lambda p: p.changes.update(aud=["another-client"], azp=CLIENT_ID), None, "'aud'"),
    "expired": (lambda p: p.changes.update(exp=int(time.time()) - 600,
                                           iat=int(time.time()) - 900), None, "expired"),
    "wrongly signed": (lambda p: setattr(p, "sign_with", p.unpublished_key), None,
                       "bad_signature"),
    "wrong issuer": (lambda p: p.changes.update(iss="http://127.0.0.1:1"), None, "'iss'"),
    "wrong nonce": (lambda p: p.changes.update(nonce="replayed"), None, "'nonce'"),
    "no subject": (lambda p: p.changes.update(sub=None), None, "'sub'"),
    "userinfo about someone else": (lambda p: (p.changes.update(groups=None),
                                               p.userinfo_changes.update(sub="subject-2")),
                                    None, "another subject"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_bad_answers_are_refused_and_change_nothing(app, visitor, provider, case):
    spoil, state, why = REFUSALS[case]
    spoil(provider)
    reply = sso_login(visitor, state=state)
    page = reply.get_data(as_text=True).replace("&#39;", "'")
    assert reply.status_code == 400 and "single sign-on failed" in page and why in page, page
    assert not logged_in(visitor)
    assert User.get_or_none(User.name == "ada") is None and SsoIdentity.select().count() == 0


def test_a_provider_account_never_takes_over_a_local_one(app, visitor, provider):
    provider.claims["preferred_username"] = "root"  # the local break-glass admin's name
    reply = sso_login(visitor)
    assert reply.status_code == 400 and "belongs to another account" in reply.get_data(
        as_text=True)
    assert not logged_in(visitor) and SsoIdentity.select().count() == 0
    assert visitor.login("root").status_code == 302  # the local admin still logs in


def test_local_logins_can_be_switched_off(db, sso_environ, provider):
    from appliance.web import create_app
    accounts.add_user("root", PASSWORD, "admin")
    app = create_app(config.load(sso_environ | {"HC_WEB_LOCAL_LOGIN": "0"}))
    visitor = Browser(app.test_client())
    page = visitor.get("/login").get_data(as_text=True)
    assert 'id="sso"' in page and 'name="password"' not in page
    with visitor.client.session_transaction() as session:  # no form on the page to take it from
        session["csrf_token"] = visitor.token = "a-valid-csrf-token"
    reply = visitor.post("/login", {"name": "root", "password": PASSWORD})
    assert reply.status_code == 403 and "switched off" in reply.get_data(as_text=True)
    assert visitor.client.get("/account").status_code == 302
    assert sso_login(visitor).status_code == 302 and visitor.client.get("/account").status_code \
        == 200


def test_logout_ends_the_providers_session_too(app, visitor, provider):
    assert sso_login(visitor).status_code == 302
    visitor.get("/account")
    reply = visitor.post("/logout")
    target = urlsplit(reply.headers["Location"])
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert f"{target.scheme}://{target.netloc}{target.path}" == provider.issuer + "/logout"
    assert query["post_logout_redirect_uri"] == "http://localhost/"
    assert query["id_token_hint"].count(".") == 2 and query["client_id"] == CLIENT_ID
    assert visitor.client.get("/account").status_code == 302


def test_logout_stays_local_when_the_provider_offers_no_end_session(app, visitor, provider):
    provider.end_session = False  # read at the first login
    assert sso_login(visitor).status_code == 302
    visitor.get("/account")
    reply = visitor.post("/logout")
    assert reply.headers["Location"] == "/"
    assert visitor.client.get("/account").status_code == 302


def test_a_provider_that_does_not_answer_is_a_clear_error(app, visitor, provider):
    provider.close()
    reply = visitor.client.get("/login/sso")
    assert reply.status_code == 502 and "cannot be reached" in reply.get_data(as_text=True)
    assert visitor.login("root").status_code == 302  # local logins do not depend on it


def test_behind_a_proxy_the_redirect_uris_use_the_public_address(db, sso_environ, provider):
    from appliance.web import create_app
    app = create_app(config.load(sso_environ | {"HC_WEB_PUBLIC_URL": "https://hc.example.org/"}))
    visitor = Browser(app.test_client())
    reply = visitor.client.get("/login/sso")
    query = parse_qs(urlsplit(reply.headers["Location"]).query)
    assert query["redirect_uri"] == ["https://hc.example.org/login/sso/callback"]
