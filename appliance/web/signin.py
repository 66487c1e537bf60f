"""Where a web login starts and ends: the one place that writes who is logged in
into the session, for the password form (auth.py) and single sign-on (oidc.py)."""
from __future__ import annotations

from urllib.parse import urlparse

from flask import session, url_for

from appliance.models import User


def start(user: User, **facts: str) -> None:
    """Log `user` in: a new session (no fixation of an older one), carrying `facts`
    (e.g. the ID token single sign-on needs for the provider's logout)."""
    session.clear()
    session["user_id"] = user.id
    for key, value in facts.items():
        session[f"login_{key}"] = value


def end() -> dict[str, str]:
    """Log out: the session is emptied; return the facts its login left in it."""
    facts = {key.removeprefix("login_"): value for key, value in session.items()
             if key.startswith("login_")}
    session.clear()
    return facts


def local_target(target: str) -> str:
    """Only paths of this site: a login must never send the user elsewhere."""
    parsed = urlparse(target)
    if not target.startswith("/") or target.startswith("//") or parsed.scheme or parsed.netloc \
            or "\\" in target:
        return url_for("pages.index")
    return target
