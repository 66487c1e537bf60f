"""Who is asking: sessions and API tokens, login and logout, CSRF, the token page.

Pages use a session cookie; every form that changes something carries a CSRF
token tied to the session. The API authenticates with `Authorization: Bearer
TOKEN` only: a browser never sends that header by itself, so API writes need
no CSRF token, and cookies are never enough to write through the API.
"""
from __future__ import annotations

import functools
import hmac
import secrets

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from appliance import accounts, sessions
from appliance.documents import SpecError
from appliance.errors import BadInput
from appliance.limits import MAX_ID
from appliance.models import User
from appliance.web import oidc, signin

blueprint = Blueprint("auth", __name__)
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Reachable without a login even when HC_WEB_REQUIRE_LOGIN=1.
# /metrics is not among them: with HC_WEB_REQUIRE_LOGIN=1 a scraper sends a token.
OPEN_ENDPOINTS = {"auth.login", "oidc.start", "oidc.callback", "static", "probes.healthz",
                  "probes.readyz", "api.openapi"}
TOKEN_PATHS = ("/api/", "/metrics")  # authenticated by Authorization: Bearer TOKEN


def current_user() -> User | None:
    return g.get("user")


def is_api_request() -> bool:
    return request.path.startswith(TOKEN_PATHS)


@blueprint.before_app_request
def identify():
    """Set g.user from a bearer token (API) or the session (pages); refuse what
    needs a login, and page writes without a valid CSRF token."""
    g.user, g.by_token = None, False
    header = request.headers.get("Authorization", "")
    if is_api_request() and header:
        scheme, _, text = header.partition(" ")
        g.user = accounts.user_for_token(text.strip()) if scheme.lower() == "bearer" else None
        if g.user is None:
            return _api_error(401, "the API token is missing, malformed, revoked or unknown")
        g.by_token = True
    elif not is_api_request() and session.get("sid"):
        g.web_session = sessions.lookup(session["sid"])
        g.user = g.web_session.user if g.web_session else None
    if request.method in WRITE_METHODS and not is_api_request():
        _check_csrf()  # the login form too: no logging a victim into an attacker's account
    if g.user is None and current_app.config["HC"].web_require_login \
            and request.endpoint not in OPEN_ENDPOINTS:
        if is_api_request():
            return _api_error(401, "this instance needs a login: send Authorization: Bearer TOKEN")
        return redirect(url_for("auth.login", next=request.full_path))
    return None


def _check_csrf() -> None:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf_token") or ""
    if not expected or not hmac.compare_digest(sent, expected):
        abort(400, description="the form's CSRF token is missing or out of date: reload the "
                               "page and try again")


def csrf_token() -> str:
    """The session's CSRF token (made on first use); forms put it in a hidden field."""
    if "csrf_token" not in session:
        session["csrf_token"] = secrets.token_urlsafe(32)
    return session["csrf_token"]


def _api_error(status: int, message: str):
    return jsonify(error=message), status


def login_required(view):
    """Pages: redirect to the login page. API: 401 unless a token came with the request."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if is_api_request() and not g.by_token:
            return _api_error(401, "writing through the API needs Authorization: Bearer TOKEN "
                                   "(make a token on your account page)")
        if current_user() is None:
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)
    return wrapped


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    target = signin.local_target(request.values.get("next", ""))
    if request.method == "GET":
        return render_template("login.html", next=target, error=None)
    if not current_app.config["HC"].web_local_login:
        return render_template("login.html", next=target,
                               error="local logins are switched off on this instance: "
                                     "log in with single sign-on"), 403
    name, password = request.form.get("name", ""), request.form.get("password", "")
    try:
        user = accounts.authenticate(name, password, request.remote_addr or "unknown")
    except accounts.LoginRefused as refusal:
        return render_template("login.html", next=target, error=str(refusal)), 429
    if user is None:
        return render_template("login.html", next=target,
                               error="wrong name or password"), 401
    signin.start(user)
    return redirect(target)


@blueprint.post("/logout")
def logout():
    """End the appliance session; after a single sign-on, also the provider's
    (RP-initiated logout) when the provider offers it."""
    facts = signin.end()
    provider_logout = oidc.end_session_url(facts.get("id_token"))
    return redirect(provider_logout or url_for("pages.index"))


def _account_page(status: int = 200, **values):
    user = current_user()
    values = {"tokens": accounts.tokens_of(user), "new_token": None, "error": None,
              "sessions": sessions.live(user),
              "everyone": sessions.live() if accounts.is_admin(user) else None,
              "this_session": g.get("web_session")} | values
    return render_template("account.html", **values), status


@blueprint.get("/account")
@login_required
def account():
    return _account_page()


@blueprint.post(f"/account/sessions/<int(max={MAX_ID}):session_id>/revoke")
@login_required
def revoke_session(session_id: int):
    """End a session: one's own (another browser), or anyone's for an admin."""
    if not sessions.revoke(session_id, current_user()):
        abort(404)
    flash("session ended")
    return redirect(url_for("auth.account"))


@blueprint.post("/account/password")
@login_required
def change_password():
    """A new password ends every session of the user, then signs this browser in again."""
    user = current_user()
    try:
        known = accounts.authenticate(user.name, request.form.get("current", ""),
                                      request.remote_addr or "unknown")
    except accounts.LoginRefused as refusal:
        return _account_page(429, error=str(refusal))
    if known is None:
        return _account_page(400, error="the current password is wrong")
    try:
        ended = accounts.set_password(user, request.form.get("password", ""))
    except BadInput as error:
        return _account_page(400, error=str(error))
    signin.start(user)
    flash(f"password changed; {ended} session(s) ended")
    return redirect(url_for("auth.account"))


@blueprint.post("/account/tokens")
@login_required
def make_token():
    try:
        _, text = accounts.make_token(current_user(), request.form.get("name", ""))
    except SpecError as error:
        return _account_page(400, error=str(error))
    return _account_page(new_token=text)


@blueprint.post(f"/account/tokens/<int(max={MAX_ID}):token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    if not accounts.revoke_token(token_id, current_user()):
        abort(404)
    flash("token revoked")
    return redirect(url_for("auth.account"))
