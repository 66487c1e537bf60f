"""Server-side web sessions, whatever the way of signing in (password, OIDC).

The browser's signed cookie holds only a random session id; the database holds
its SHA-256, who it belongs to, and whether it still counts. So a session can
be ended from the server: on logout, on a password change (every session of
that user), or by an admin. A session also ends when idle for IDLE_TIMEOUT or
older than MAX_AGE (re-authentication, as OWASP ASVS level 2 asks).

    text = sessions.start(user, "password", address, agent)   # at login
    found = sessions.lookup(text)                             # each request
    sessions.end(text)                                        # at logout
"""
from __future__ import annotations

import hashlib
import secrets
import time

from appliance.models import User, WebSession
from appliance.states import Role

IDLE_TIMEOUT = 30 * 60.0     # s without a request, then the session ends
MAX_AGE = 12 * 3600.0        # s after login, then a new login is needed
SEEN_EVERY = 60.0            # s: last_seen_at is written at most this often


def start(user: User, method: str, address: str, agent: str,
          now: float | None = None) -> str:
    """A new session for `user`; returns the id to put in the cookie (never stored)."""
    text = secrets.token_urlsafe(32)
    now = time.time() if now is None else now
    WebSession.create(user=user, token_hash=_digest(text), method=method[:16],
                      address=(address or "unknown")[:64], agent=(agent or "")[:200],
                      started_at=now, last_seen_at=now)
    return text


def lookup(text: str | None, now: float | None = None) -> WebSession | None:
    """The live session with this id (its .user loaded), or None; marks it seen."""
    if not text or not isinstance(text, str):
        return None
    now = time.time() if now is None else now
    found = (WebSession.select(WebSession, User).join(User)
             .where(WebSession.token_hash == _digest(text), WebSession.ended_at.is_null(),
                    WebSession.last_seen_at > now - IDLE_TIMEOUT,
                    WebSession.started_at > now - MAX_AGE).first())
    if found is not None and now - found.last_seen_at > SEEN_EVERY:
        WebSession.update(last_seen_at=now).where(WebSession.id == found.id).execute()
    return found


def end(text: str | None, now: float | None = None) -> None:
    """Logout: the session with this id no longer counts."""
    if text and isinstance(text, str):
        _end(WebSession.token_hash == _digest(text), now)


def revoke(session_id: int, by: User, now: float | None = None) -> bool:
    """End one live session: one's own, or anyone's for an admin. False if none matched."""
    condition = WebSession.id == session_id
    if by.role != Role.ADMIN.value:
        condition &= WebSession.user == by.id
    return _end(condition, now) == 1


def end_all(user: User, now: float | None = None) -> int:
    """Every live session of `user` (a password change, an admin's revoke); how many."""
    return _end(WebSession.user == user.id, now)


def live(user: User | None = None, now: float | None = None) -> list[WebSession]:
    """Live sessions, newest first: of `user`, or of everyone (for an admin's list)."""
    now = time.time() if now is None else now
    query = (WebSession.select(WebSession, User).join(User)
             .where(WebSession.ended_at.is_null(), WebSession.last_seen_at > now - IDLE_TIMEOUT,
                    WebSession.started_at > now - MAX_AGE))
    if user is not None:
        query = query.where(WebSession.user == user.id)
    return list(query.order_by(WebSession.last_seen_at.desc()).limit(500))


def _end(condition, now: float | None) -> int:
    now = time.time() if now is None else now
    return (WebSession.update(ended_at=now)
            .where(condition, WebSession.ended_at.is_null()).execute())


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
