"""Credentials as first-class objects: an X.509 user or robot certificate with
its key, from which short-lived RFC 3820 proxies are made, or a bearer token.

Key material lives in files of mode 0600 in folders of mode 0700 under the
secrets folder (HC_SECRETS_DIR, default DATA_DIR/secrets); the database keeps
only what may be shown (subject, issuer, expiry, renewal history). In a
role-split deployment the secrets folder is a volume the server (which renews
proxies) mounts read-write and the submit nodes mount read-only.

One home for the rules: when a proxy is due for renewal, when a credential
warrants a warning, and when it may no longer be used (`refusal`).
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass

from appliance import gridcert, tokens
from appliance.config import load as load_config
from appliance.errors import BadInput
from appliance.models import Credential, CredentialEvent, Site, Test, TestSite

X509, TOKEN = "x509", "token"
CERT_FILE, KEY_FILE, PROXY_FILE, TOKEN_FILE = "cert.pem", "key.pem", "proxy.pem", "token"
# Defaults, each with its unit.
PROXY_LIFETIME = 12 * 3600.0  # s: lifetime of each proxy made
RENEW_FRACTION = 0.5          # share of a proxy's lifetime used before it is renewed
WARN_BEFORE = 7 * 86400.0     # s: warn this long before the certificate or token ends
REFUSE_BEFORE = 60.0          # s: a proxy or token with less left is not used
CREDENTIAL_EVENT = "credential"  # the kind of site event a credential's change makes
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")


class CredentialError(BadInput):
    """A credential cannot be added, renewed or used; the message says why."""


@dataclass(frozen=True)
class Health:
    level: str      # ok, warning, expired
    message: str
    usable_until: float | None


def secrets_dir() -> str:
    return load_config().secrets_dir


def folder_of(name: str, root: str | None = None) -> str:
    return os.path.join(root or secrets_dir(), name)


def usable_proxy(name: str, root: str | None = None) -> str:
    """The path of the credential's current proxy file (what a backend presents)."""
    path = os.path.join(folder_of(name, root), PROXY_FILE)
    if not os.path.exists(path):
        raise CredentialError(f"credential {name} has no proxy file at {path}; run "
                              f"`hc credential renew {name}`")
    return path


def payload_file(name: str, root: str | None = None) -> str:
    """What a payload is pointed at: the proxy (X509_USER_PROXY) or token file."""
    row = get(name)
    if row.kind == X509:
        return usable_proxy(name, root)
    return os.path.join(folder_of(name, root), TOKEN_FILE)


ASKS_FOR_IT = "@credential"  # a template's environment value naming the site's credential
PAYLOAD_VARIABLES = ("X509_USER_PROXY", "BEARER_TOKEN_FILE")


def payload_environment(environment: dict, name: str | None, root: str | None = None) -> dict:
    """The template's environment with X509_USER_PROXY / BEARER_TOKEN_FILE set to the
    site's credential file where the template asks ("@credential"); nothing otherwise."""
    asked = [k for k in PAYLOAD_VARIABLES if environment.get(k) == ASKS_FOR_IT]
    if not asked:
        return environment
    if name is None:
        raise CredentialError("the template asks for a credential but the site names none")
    path = payload_file(name, root)
    return {**environment, **{key: path for key in asked}}


# -- adding, renewing, removing -----------------------------------------------

def add_x509(name: str, cert_pem: bytes, key_pem: bytes, now: float, actor: str,
             root: str | None = None, proxy_lifetime: float = PROXY_LIFETIME,
             renew_fraction: float = RENEW_FRACTION, warn_before: float = WARN_BEFORE,
             refuse_before: float = REFUSE_BEFORE) -> Credential:
    """Register a certificate and key; the first proxy is made at once."""
    _check_new(name, proxy_lifetime, renew_fraction, warn_before, refuse_before)
    try:
        identity = gridcert.load_identity(cert_pem, key_pem)
    except gridcert.CertificateError as error:
        raise CredentialError(f"credential {name}: {error}") from None
    certificate = identity.certificate
    if gridcert.not_after(certificate) <= now:
        raise CredentialError(f"credential {name}: the certificate expired already")
    folder = _make_folder(name, root)
    _write_secret(os.path.join(folder, CERT_FILE), cert_pem)
    _write_secret(os.path.join(folder, KEY_FILE), key_pem)
    row = Credential.create(
        name=name, kind=X509, subject=gridcert.subject(certificate),
        issuer=gridcert.issuer(certificate), not_before=gridcert.not_before(certificate),
        expires_at=gridcert.not_after(certificate), proxy_lifetime=proxy_lifetime,
        renew_fraction=renew_fraction, warn_before=warn_before, refuse_before=refuse_before,
        created_at=now, created_by=actor)
    _event(row, now, "added", f"by {actor}: {row.subject}")
    return renew(name, now, actor, root)


def add_token(name: str, token: str, now: float, actor: str, root: str | None = None,
              warn_before: float = WARN_BEFORE, refuse_before: float = REFUSE_BEFORE
              ) -> Credential:
    _check_new(name, PROXY_LIFETIME, RENEW_FRACTION, warn_before, refuse_before)
    claims = _claims(name, token, now)
    folder = _make_folder(name, root)
    _write_secret(os.path.join(folder, TOKEN_FILE), token.strip().encode() + b"\n")
    row = Credential.create(
        name=name, kind=TOKEN, subject=claims.subject, issuer=claims.issuer,
        not_before=claims.not_before or claims.issued_at, expires_at=claims.expires_at,
        usable_until=claims.expires_at, warn_before=warn_before, refuse_before=refuse_before,
        renewed_at=now, created_at=now, created_by=actor)
    _event(row, now, "added", f"by {actor}: token of {claims.subject or '?'} "
           f"from {claims.issuer or '?'}")
    return row


def renew(name: str, now: float, actor: str, root: str | None = None,
          token: str | None = None) -> Credential:
    """A fresh proxy from the certificate, or a new token put in place of the old."""
    row = get(name)
    folder = folder_of(name, root)
    if row.kind == TOKEN:
        if token is None:
            raise CredentialError(f"credential {name} is a token: renew it by giving the new "
                                  "token (--token-file)")
        claims = _claims(name, token, now)
        _write_secret(os.path.join(folder, TOKEN_FILE), token.strip().encode() + b"\n")
        values = dict(subject=claims.subject, issuer=claims.issuer,
                      expires_at=claims.expires_at, usable_until=claims.expires_at)
        detail = f"new token, expires {_when(claims.expires_at)}"
    else:
        identity = _identity(row, folder)
        if gridcert.not_after(identity.certificate) <= now:
            _event(row, now, "failed", "the certificate has expired: no proxy can be made")
            raise CredentialError(f"credential {name}: the certificate has expired")
        proxy = gridcert.make_proxy(identity, row.proxy_lifetime, now)
        _write_secret(os.path.join(folder, PROXY_FILE), proxy)
        until = min(now + row.proxy_lifetime, row.expires_at)
        values = dict(usable_until=until)
        detail = f"new proxy valid until {_when(until)}"
    (Credential.update(renewed_at=now, renewals=Credential.renewals + 1, last_error="",
                       **values).where(Credential.id == row.id).execute())
    _event(row, now, "renewed", f"by {actor}: {detail}")
    return get(name)


def remove(name: str, root: str | None = None) -> None:
    row = get(name)
    users = sites_using(name)
    if users:
        raise CredentialError(f"credential {name} is used by site(s) {', '.join(users)}; "
                              "change their settings first")
    row.delete_instance(recursive=True)
    shutil.rmtree(folder_of(name, root), ignore_errors=True)


def renew_due(now: float, actor: str = "server", root: str | None = None) -> list[str]:
    """Renew every X.509 credential whose proxy used its share of lifetime; return names."""
    renewed = []
    for row in Credential.select().where(Credential.kind == X509):
        if not _renewal_due(row, now):
            continue
        try:
            renew(row.name, now, actor, root)
            renewed.append(row.name)
        except (CredentialError, OSError) as error:
            message = str(error)[:500]
            Credential.update(last_error=message).where(Credential.id == row.id).execute()
    return renewed


def _renewal_due(row: Credential, now: float) -> bool:
    if row.renewed_at is None or row.usable_until is None:
        return True
    if row.expires_at <= now:
        return False  # nothing to renew from
    lifetime = max(1.0, row.usable_until - row.renewed_at)
    return now >= row.renewed_at + row.renew_fraction * lifetime


# -- the rules of use -----------------------------------------------------

def health(row: Credential, now: float) -> Health:
    """ok, warning (the certificate or token ends within warn_before, or renewal
    failed) or expired (what is presented has less than refuse_before left)."""
    until = row.usable_until
    if until is None or until - now < row.refuse_before:
        what = "proxy" if row.kind == X509 else "token"
        # One wording before and after the end, so that it is said once.
        when = f"no {what}" if until is None else (
            f"{what} expired or about to (valid until {_when(until)}); renew it")
        return Health("expired", f"credential {row.name}: {when}", until)
    if row.expires_at - now < row.warn_before:
        what = "certificate" if row.kind == X509 else "token"
        return Health("warning", f"credential {row.name}: {what} expires at "
                      f"{_when(row.expires_at)}, in {_span(row.expires_at - now)}", until)
    if row.last_error:
        return Health("warning", f"credential {row.name}: last renewal failed: "
                      f"{row.last_error}", until)
    return Health("ok", f"credential {row.name}: valid until {_when(until)}", until)


def refusal(name: str, now: float) -> str | None:
    """Why jobs may not be sent with this credential now, or None."""
    row = Credential.get_or_none(Credential.name == name)
    if row is None:
        return f"credential {name} does not exist"
    state = health(row, now)
    return state.message if state.level == "expired" else None


def warnings(now: float) -> list[Health]:
    return [h for h in (health(row, now) for row in Credential.select().order_by(
        Credential.name)) if h.level != "ok"]


def warn_tests(now: float, noted: set[tuple]) -> int:
    """A warning line in the log of every live test with a site using a credential
    that is ending or unusable; `noted` remembers what was said. Returns lines added."""
    from appliance.lifecycle import add_log
    from appliance.states import TEST_ON_SUBMIT_HOST, Severity
    added = 0
    for state in warnings(now):
        name = state.message.split(":", 1)[0].removeprefix("credential ")
        sites = sites_using(name)
        if not sites:
            continue
        live = [s.value for s in TEST_ON_SUBMIT_HOST]
        tests = (TestSite.select(TestSite.test).join(Site).switch(TestSite).join(Test)
                 .where(Site.name.in_(sites), Test.state.in_(live)).distinct().tuples())
        for (test_id,) in tests:
            key = (test_id, name, state.level, state.usable_until)
            if key not in noted:
                noted.add(key)
                add_log(test_id, state.message, Severity.WARNING, "server", at=now)
                added += 1
    return added


def announce_to_sites(now: float, actor: str = "server") -> int:
    """A site event (delivered to the webhooks) for each site whose credential
    changed level: ok, warning, expired and back. The last event of each site
    and credential is the memory, so a restarted server says nothing twice.
    Returns the events recorded."""
    from appliance.db import database
    from appliance.health import events
    from appliance.models import SiteEvent
    recorded = 0
    for row in Credential.select().order_by(Credential.name):
        state = health(row, now)
        prefix = f"credential {row.name} "
        for site in Site.select().where(Site.name.in_(sites_using(row.name))):
            last = (SiteEvent.select(SiteEvent.rule)
                    .where(SiteEvent.site == site.id, SiteEvent.kind == CREDENTIAL_EVENT,
                           SiteEvent.rule.startswith(prefix))
                    .order_by(SiteEvent.at.desc(), SiteEvent.id.desc()).first())
            was = last.rule.removeprefix(prefix) if last else "ok"
            if was == state.level:
                continue
            with database.atomic():
                events.record(site.id, CREDENTIAL_EVENT, site.status, site.status, actor, now,
                              rule=prefix + state.level, reason=state.message)
            recorded += 1
    return recorded


def site_credential(site: Site) -> str | None:
    settings = site.backend_settings or {}
    name = settings.get("credential") if isinstance(settings, dict) else None
    return name if isinstance(name, str) else None


def sites_using(name: str) -> list[str]:
    return sorted(site.name for site in Site.select(Site.name, Site.backend_settings)
                  if site_credential(site) == name)


def get(name: str) -> Credential:
    row = Credential.get_or_none(Credential.name == name)
    if row is None:
        raise CredentialError(f"no credential named {name!r}; see `hc credential list`")
    return row


# -- helpers ----------------------------------------------------------------

def _check_new(name, proxy_lifetime, renew_fraction, warn_before, refuse_before) -> None:
    if not name or len(name) > 64 or not set(name) <= NAME_CHARS or name[0] in "._-":
        raise CredentialError("a credential name is 1-64 of a-z 0-9 - _ . and starts with a "
                              "letter or digit")
    if Credential.get_or_none(Credential.name == name) is not None:
        raise CredentialError(f"credential {name} exists already")
    if not 10 <= proxy_lifetime <= 30 * 86400:
        raise CredentialError("proxy lifetime must be between 10 s and 30 days")
    if not 0.05 <= renew_fraction <= 0.95:
        raise CredentialError("renew fraction must be between 0.05 and 0.95")
    if not (0 <= warn_before <= 365 * 86400 and 0 <= refuse_before <= 86400):
        raise CredentialError("warn-before is 0 s-365 days, refuse-before 0 s-1 day")


def _claims(name: str, token: str, now: float) -> tokens.Claims:
    try:
        claims = tokens.read_claims(token)
    except tokens.TokenError as error:
        raise CredentialError(f"credential {name}: {error}") from None
    if claims.expires_at <= now:
        raise CredentialError(f"credential {name}: the token expired at "
                              f"{_when(claims.expires_at)}")
    return claims


def _identity(row: Credential, folder: str) -> gridcert.Identity:
    try:
        with open(os.path.join(folder, CERT_FILE), "rb") as cert, \
                open(os.path.join(folder, KEY_FILE), "rb") as key:
            return gridcert.load_identity(cert.read(), key.read())
    except (OSError, gridcert.CertificateError) as error:
        raise CredentialError(f"credential {row.name}: cannot read its certificate and key: "
                              f"{error}") from None


def _make_folder(name: str, root: str | None) -> str:
    base = root or secrets_dir()
    os.makedirs(base, mode=0o700, exist_ok=True)
    os.chmod(base, 0o700)
    folder = folder_of(name, base)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.chmod(folder, 0o700)
    return folder


def _write_secret(path: str, content: bytes) -> None:
    """Written under a temporary name created 0600, then renamed over the old file."""
    temporary = f"{path}.{os.getpid()}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    os.replace(temporary, path)


def _event(row: Credential, now: float, kind: str, message: str) -> None:
    CredentialEvent.create(credential=row.id, at=now, kind=kind, message=message[:1000])


def _when(moment: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(moment))


def _span(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.0f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{max(0, seconds):.0f} s"
