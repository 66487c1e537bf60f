"""Where a web login starts and ends: the one place that writes who is logged in
into the session, for the password form (auth.py) and single sign-on (oidc.py)."""
from __future__ import annotations

from urllib.parse import urlparse

from flask import request, session, url_for

from appliance import sessions
from appliance.models import User


def start(user: User, method: str = "password", **facts: str) -> None:
    """Log `user` in: a new server-side session (appliance/sessions.py; no
    fixation of an older one, revocable), carrying `facts` (e.g. the ID token
    single sign-on needs for the provider's logout). The cookie holds only the
    session's random id."""
    sessions.end(session.get("sid"))
    session.clear()
    session["sid"] = sessions.start(user, method, request.remote_addr or "unknown",
                                    request.headers.get("User-Agent", ""))
    for key, value in facts.items():
        session[f"login_{key}"] = value


def end() -> dict[str, str]:
    """Log out: the server-side session ends, the cookie is emptied; return the
    facts its login left in it."""
    facts = {key.removeprefix("login_"): value for key, value in session.items()
             if key.startswith("login_")}
    sessions.end(session.get("sid"))
    session.clear()
    return facts


def local_target(target: str) -> str:
    """Only paths of this site: a login must never send the user elsewhere."""
    parsed = urlparse(target)
    if not target.startswith("/") or target.startswith("//") or parsed.scheme or parsed.netloc \
            or "\\" in target:
        return url_for("pages.index")
    return target
