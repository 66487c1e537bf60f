"""Single sign-on with OpenID Connect: the authorization code flow with PKCE (S256),
through authlib's Flask client.

`/login/sso` sends the browser to the provider with a fresh state, nonce and PKCE
verifier kept in the session; `/login/sso/callback` takes the code back (the state
must be the one this session sent), redeems it with the verifier, and authlib checks
the ID token: its signature against the keys the provider publishes, the issuer, the
audience (this client id), the expiry and the nonce. Anything wrong is a 400 and no
login. The provider's endpoints come from ISSUER/.well-known/openid-configuration,
read at the first login, so a provider that is down does not stop the web UI from
starting (local logins keep working). Logout (auth.py) ends the appliance session,
then sends the browser to the provider's end_session_endpoint when it offers one.
"""
from __future__ import annotations

import logging

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from joserfc.errors import JoseError

from appliance import sso
from appliance.config import Config
from appliance.web import signin

log = logging.getLogger(__name__)
blueprint = Blueprint("oidc", __name__)
HTTP_TIMEOUT = 10.0  # s: each call to the provider (discovery, keys, token, userinfo)
_NEXT = "sso_next"   # session key: where to go after the login


def init_app(app, settings: Config) -> None:
    """Register the provider as an authlib client when HC_OIDC_ISSUER is set."""
    if not settings.oidc_enabled:
        return
    oauth = OAuth(app)
    oauth.register(
        "sso", client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret or None,
        server_metadata_url=settings.oidc_issuer + "/.well-known/openid-configuration",
        client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256",
                       "default_timeout": HTTP_TIMEOUT,
                       "token_endpoint_auth_method":
                           "client_secret_basic" if settings.oidc_client_secret else "none"})
    app.extensions["hc_oidc"] = oauth.sso


def public_url(endpoint: str) -> str:
    """The full address of `endpoint` as the browser (and the provider's list of
    redirect URIs) knows it: HC_WEB_PUBLIC_URL behind a proxy, else this request's."""
    base = current_app.config["HC"].web_public_url
    return base + url_for(endpoint) if base else url_for(endpoint, _external=True)


def _client():
    client = current_app.extensions.get("hc_oidc")
    if client is None:
        abort(404, description="single sign-on is not set up on this instance (HC_OIDC_ISSUER)")
    return client


def _metadata(client) -> dict:
    """The provider's discovery document; its issuer must be the configured one
    (OpenID Connect Discovery 1.0, section 4.3), or its keys prove nothing."""
    metadata = client.load_server_metadata()
    expected = current_app.config["HC"].oidc_issuer
    if metadata.get("issuer", "").rstrip("/") != expected:
        raise sso.SsoRefused(f"the provider's discovery document names the issuer "
                             f"{metadata.get('issuer')!r}, not {expected!r}")
    return metadata


@blueprint.get("/login/sso")
def start():
    client = _client()
    target = signin.local_target(request.args.get("next", ""))
    try:
        _metadata(client)
        reply = client.authorize_redirect(public_url("oidc.callback"))
    except (requests.RequestException, ValueError, sso.SsoRefused) as error:
        log.warning("single sign-on: the provider cannot be used: %s", error)
        return _refusal(f"the single sign-on provider cannot be reached or used: {error}", 502)
    session[_NEXT] = target
    return reply


@blueprint.get("/login/sso/callback")
def callback():
    client = _client()
    settings = current_app.config["HC"]
    try:
        metadata = _metadata(client)
        token = client.authorize_access_token(claims_options=_expected_claims(client))
        claims = _claims(client, metadata, token)
        user = sso.login(settings.oidc_issuer, claims, settings)
    except (OAuthError, JoseError, sso.SsoRefused) as error:
        log.warning("single sign-on refused: %s", _describe(error))
        return _refusal(f"single sign-on failed: {_describe(error)}", 400)
    except (requests.RequestException, ValueError) as error:
        log.warning("single sign-on: the provider did not answer properly: %s", error)
        return _refusal("single sign-on failed: the provider did not answer properly", 502)
    target = signin.local_target(session.get(_NEXT, ""))
    signin.start(user, method="oidc", id_token=token["id_token"])
    return redirect(target)


def _expected_claims(client) -> dict:
    """Issuer and audience the ID token must carry. authlib checks the audience only
    through `azp`; OpenID Connect Core 1.0 (3.1.3.7) wants our client id in `aud`."""
    return {"iss": {"essential": True, "value": current_app.config["HC"].oidc_issuer},
            "aud": {"essential": True, "value": client.client_id}}


def _claims(client, metadata: dict, token: dict) -> dict:
    """The ID token's verified claims, completed from the userinfo endpoint when the
    name or the groups are not in the ID token (many providers put them only there)."""
    claims = dict(token.get("userinfo") or {})
    if not claims:
        raise sso.SsoRefused("the provider sent no ID token")
    settings = current_app.config["HC"]
    wanted = (settings.oidc_username_claim, settings.oidc_groups_claim)
    if all(k in claims for k in wanted) or not metadata.get("userinfo_endpoint"):
        return claims
    extra = dict(client.userinfo(token=token))
    if extra.get("sub") != claims.get("sub"):  # OpenID Connect Core 1.0, section 5.3.2
        raise sso.SsoRefused("the userinfo answer is about another subject than the ID token")
    return extra | claims


def end_session_url(id_token: str | None) -> str | None:
    """Where to send the browser to end the provider's session too (RP-initiated
    logout), or None: no single sign-on, or the provider offers no end_session_endpoint."""
    client = current_app.extensions.get("hc_oidc")
    if client is None or not id_token:
        return None
    try:
        if not _metadata(client).get("end_session_endpoint"):
            return None
        return client.create_logout_url(
            post_logout_redirect_uri=public_url("pages.index"),
            id_token_hint=id_token, client_id=client.client_id)["url"]
    except (requests.RequestException, ValueError, sso.SsoRefused) as error:
        log.warning("single sign-on: no provider logout: %s", error)
        return None


def _describe(error: Exception) -> str:
    if isinstance(error, OAuthError):
        return error.description or error.error
    if isinstance(error, JoseError):
        return f"the ID token is not valid ({error.error}: {error.description or ''})".rstrip()
    return str(error)


def _refusal(message: str, status: int):
    return render_template("message.html", title="Single sign-on", message=message), status
