"""Accounts: passwords, API tokens and the login rate limit.

Passwords are stored as werkzeug hashes; API tokens as their SHA-256 (a token is
random, so a fast hash is enough and lets a request be checked with one indexed
lookup). A token's text is shown once, when it is made.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import math
import secrets
import time

import peewee as pw
from werkzeug.security import check_password_hash, generate_password_hash

from appliance import sessions
from appliance.db import database
from appliance.documents import SpecError
from appliance.models import ApiToken, LoginAttempt, User
from appliance.states import Role

TOKEN_PREFIX = "hc_"
MIN_PASSWORD_LENGTH = 8
WELL_KNOWN_PASSWORDS = frozenset({"admin", "password", "changeme", "hammercloud", "12345678",
                                  "password1", "adminadmin", "letmein"})
# The development account's password (scripts/dev, docker compose up): accepted
# only when HC_DEV=1, the one exception to the rule below.
DEVELOPMENT_PASSWORD = "admin"
LOGIN_WINDOW = 300.0       # s: failed attempts counted over this long
LOGIN_MAX_FAILURES = 5     # free failures per (address, account) within the window
LOGIN_MAX_PER_ADDRESS = 20  # free failures per address, whatever the accounts
LOGIN_FIRST_DELAY = 15.0   # s to wait after the first failure beyond those; doubles each time


class LoginRefused(Exception):
    """Too many failed attempts: the message says when to try again."""


def check_password(password: str, development: bool = False) -> None:
    """The one password rule (web, CLI, HC_ADMIN_PASSWORD); SpecError says what is wrong.
    `development`: HC_DEV=1, where the development account's known password is allowed."""
    if development and password == DEVELOPMENT_PASSWORD:
        return
    if len(password) < MIN_PASSWORD_LENGTH:
        raise SpecError(f"user.password: must have at least {MIN_PASSWORD_LENGTH} characters")
    if password.lower() in WELL_KNOWN_PASSWORDS:
        raise SpecError("user.password: is a well-known password; choose another")


@functools.cache
def _unknown_user_hash() -> str:
    """Checked against when the account does not exist, so that a wrong name costs as
    long as a wrong password (no probing of names by timing). Made on first use: every
    `hc` process (a health check every 3 s) would otherwise pay for a hash at import."""
    return generate_password_hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def add_user(name: str, password: str, role: str = Role.USER.value) -> User:
    check_password(password)
    if role not in {r.value for r in Role}:
        raise SpecError(f"user.role: {role!r} is not one of: user, admin")
    hashed = hash_password(password)   # slow on purpose: before the write lock, not in it
    with database.atomic():  # it begins IMMEDIATE on SQLite (appliance/db.py)
        if User.get_or_none(User.name == name):
            raise SpecError(f"user {name!r} exists")
        return User.create(name=name, role=role, password_hash=hashed)


def set_password(user: User, password: str) -> int:
    """A new password for `user`; every web session of theirs ends (how many did)."""
    check_password(password)
    hashed = hash_password(password)
    with database.atomic():
        User.update(password_hash=hashed).where(User.id == user.id).execute()
        return sessions.end_all(user)


def authenticate(name: str, password: str, address: str, now: float | None = None) -> User | None:
    """The user whose name and password these are, or None. Every attempt is
    recorded; raise LoginRefused while the account or address has too many
    recent failures (checked before the password, so guessing gains nothing)."""
    now = time.time() if now is None else now
    _refuse_if_throttled(name, address, now)
    user = User.get_or_none(User.name == name)
    # Single sign-on users have no password (an empty hash): nothing may match it, and
    # checking a dummy hash instead costs as long as a real check.
    has_password = bool(user and user.password_hash)
    valid = check_password_hash(user.password_hash if has_password else _unknown_user_hash(),
                                password) and has_password
    LoginAttempt.create(name=name[:64], address=address[:64], at=now,
                        succeeded=bool(user and valid))
    return user if user and valid else None


def _refuse_if_throttled(name: str, address: str, now: float) -> None:
    """Failures count per (address, account) pair, and per address over all
    accounts: someone elsewhere guessing a name never locks its owner out.
    Past the free attempts each further one waits twice as long as the last
    (LOGIN_FIRST_DELAY, doubling, at most LOGIN_WINDOW) after the latest failure."""
    recent = (LoginAttempt.select(pw.fn.COUNT(LoginAttempt.id), pw.fn.MAX(LoginAttempt.at))
              .where(LoginAttempt.at > now - LOGIN_WINDOW, ~LoginAttempt.succeeded,
                     LoginAttempt.address == address[:64]))
    for query, allowed in ((recent.where(LoginAttempt.name == name[:64]), LOGIN_MAX_FAILURES),
                           (recent, LOGIN_MAX_PER_ADDRESS)):
        failures, latest = query.tuples().first() or (0, None)
        if failures >= allowed:
            wait = min(LOGIN_WINDOW, LOGIN_FIRST_DELAY * 2 ** min(failures - allowed, 20))
            if now - latest < wait:
                raise LoginRefused(f"too many failed logins; try again in "
                                   f"{math.ceil(wait - (now - latest))} s")


def make_token(user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for `user`: the row and the token's text (not stored anywhere)."""
    name = name.strip()
    if not name or len(name) > 128:
        raise SpecError("token.name: give a name of 1 to 128 characters (e.g. 'gitlab ci')")
    text = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.create(user=user, name=name, token_hash=_digest(text), prefix=text[:10])
    return token, text


def user_for_token(text: str, now: float | None = None) -> User | None:
    """The owner of a valid (not revoked) token, or None."""
    if not text.startswith(TOKEN_PREFIX):
        return None
    token = (ApiToken.select(ApiToken, User).join(User)
             .where(ApiToken.token_hash == _digest(text), ApiToken.revoked_at.is_null()).first())
    if token is None or not hmac.compare_digest(token.token_hash, _digest(text)):
        return None
    now = time.time() if now is None else now
    # Written at most once a minute: a busy CI token must not turn reads into writes.
    if token.last_used_at is None or now - token.last_used_at > 60:
        ApiToken.update(last_used_at=now).where(ApiToken.id == token.id).execute()
    return token.user


def revoke_token(token_id: int, user: User | None = None) -> bool:
    """Revoke a valid token; False if none matched. Given a `user` who is not an
    admin, only one of that user's own (no user: an operator on the command line)."""
    query = ApiToken.update(revoked_at=time.time()).where(ApiToken.id == token_id,
                                                          ApiToken.revoked_at.is_null())
    if user is not None and not is_admin(user):
        query = query.where(ApiToken.user == user.id)
    return query.execute() == 1


def tokens_of(user: User) -> list[ApiToken]:
    return list(ApiToken.select().where(ApiToken.user == user.id)
                .order_by(ApiToken.id.desc()))


def is_admin(user: User | None) -> bool:
    return user is not None and user.role == Role.ADMIN.value


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
