"""Single sign-on accounts: which user a verified ID token names, and with which role.

The protocol (discovery, PKCE, the ID token's signature, issuer, audience, expiry
and nonce) is checked by appliance/web/oidc.py through authlib; this module only
turns claims already verified into a user:

- a user is found by (issuer, sub), never by name: a provider account that happens
  to be called like a local break-glass admin does not become that admin;
- the first login creates the user, named by the username claim; a name another
  account already has is refused (an operator renames one of them);
- the role follows the groups claim at every login: admin exactly when one of the
  user's groups is in HC_OIDC_ADMIN_GROUPS.

Users made here have no password, so they cannot log in with the password form.
"""
from __future__ import annotations

import logging
import time
import unicodedata
from collections.abc import Mapping

import peewee

from appliance.config import Config
from appliance.db import database
from appliance.errors import BadInput
from appliance.models import SsoIdentity, User
from appliance.states import Role

log = logging.getLogger(__name__)
MAX_GROUPS = 10_000      # groups in one claim: more is not a directory, it is an attack
MAX_CLAIM_LENGTH = 255   # characters of a subject or a group name
MAX_NAME_LENGTH = 64     # characters of a user name (the column's size)
NO_PASSWORD = ""         # password_hash of single sign-on users: no password matches it


class SsoRefused(BadInput):
    """The provider's claims cannot make a login; the message says why."""


def groups_of(claims: Mapping, claim: str) -> frozenset[str]:
    """The groups a claim lists: a list of names, or one name; absent = none."""
    value = claims.get(claim)
    if value is None:
        return frozenset()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or len(value) > MAX_GROUPS \
            or not all(isinstance(g, str) and len(g) <= MAX_CLAIM_LENGTH for g in value):
        raise SsoRefused(f"the provider's {claim!r} claim is not a list of group names")
    return frozenset(value)


def role_for(groups: frozenset[str], admin_groups: frozenset[str]) -> Role:
    return Role.ADMIN if groups & admin_groups else Role.USER


def name_of(claims: Mapping, claim: str) -> str:
    """The user name the provider gives: 1 to 64 printable characters."""
    name = claims.get(claim)
    if not isinstance(name, str) or not name.strip():
        raise SsoRefused(f"the provider sent no {claim!r} claim to name the user by (ask for "
                         f"the scope that carries it, or set HC_OIDC_USERNAME_CLAIM)")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH or any(unicodedata.category(c)[0] in "CZ" and c != " "
                                          for c in name):
        raise SsoRefused(f"the provider's {claim!r} claim is not a usable user name "
                         f"(1 to {MAX_NAME_LENGTH} printable characters)")
    return name


def subject_of(claims: Mapping) -> str:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > MAX_CLAIM_LENGTH:
        raise SsoRefused("the ID token has no usable 'sub' claim")
    return subject


def login(issuer: str, claims: Mapping, settings: Config, now: float | None = None) -> User:
    """The user these verified claims name, created on the first login, with the role
    the groups claim gives now. Raise SsoRefused (nothing changed) when they cannot."""
    now = time.time() if now is None else now
    subject = subject_of(claims)
    role = role_for(groups_of(claims, settings.oidc_groups_claim),
                    settings.oidc_admin_group_set).value
    try:
        with database.atomic():
            identity = (SsoIdentity.select(SsoIdentity, User).join(User)
                        .where(SsoIdentity.issuer == issuer, SsoIdentity.subject == subject)
                        .first())
            if identity is None:
                return _first_login(issuer, subject, name_of(claims,
                                                             settings.oidc_username_claim),
                                    role, now)
            user = identity.user
            if user.role != role:
                log.info("single sign-on: %s is now %s (groups claim)", user.name, role)
                User.update(role=role).where(User.id == user.id).execute()
                user.role = role
            SsoIdentity.update(last_login_at=now).where(SsoIdentity.id == identity.id).execute()
            return user
    except peewee.IntegrityError:  # the same first login twice at once: the other one won
        raise SsoRefused("this account was being created by another login: log in again") \
            from None


def _first_login(issuer: str, subject: str, name: str, role: str, now: float) -> User:
    if User.get_or_none(User.name == name) is not None:
        raise SsoRefused(f"the name {name!r} belongs to another account of this appliance; "
                         f"an operator must rename one of them")
    user = User.create(name=name, role=role, password_hash=NO_PASSWORD, created_at=now)
    SsoIdentity.create(issuer=issuer, subject=subject, user=user, created_at=now,
                       last_login_at=now)
    log.info("single sign-on: first login of %s (%s), made %s", name, subject, role)
    return user
