"""Is a site's backend reachable and usable? HammerCloud checked credentials and
proxies; here each backend says (daemon answers, partition exists, ...).

Checks run in submit agents (they hold the backends; the server never calls one)
and from `hc site check`. The result is stored on the site.
"""
from __future__ import annotations

import time

from appliance import credentials
from appliance.backends import BackendError, SettingsError, make_backend
from appliance.errors import BadInput
from appliance.models import Site


def check(site: Site, host: str = "", now: float | None = None) -> tuple[bool, str]:
    """The site's credential first (expired or about to: the check fails, no
    backend call), then the backend's own check."""
    now = time.time() if now is None else now
    name = credentials.site_credential(site)
    note = ""
    if name:
        refused = credentials.refusal(name, now)
        if refused:
            return False, refused
        state = credentials.health(credentials.get(name), now)
        note = f"; {state.message}"
    try:
        return True, make_backend(site.backend, site.backend_settings, host).check() + note
    except (BackendError, SettingsError, BadInput) as error:
        return False, str(error)


def check_and_record(site: Site, host: str = "", now: float | None = None) -> tuple[bool, str]:
    ok, message = check(site, host, now)
    record(site, ok, message, time.time() if now is None else now)
    return ok, message


def record(site: Site, ok: bool, message: str, now: float) -> None:
    """Store a site's latest check result (also what serving it found: a back-off)."""
    (Site.update(check_ok=ok, check_message=message[:2000], checked_at=now)
     .where(Site.id == site.id).execute())


def check_due(host: str, interval: float, now: float) -> int:
    """Check every site whose last check is older than `interval`; return how many."""
    # A list, not an open cursor: a check may take seconds, and SQLite cannot turn a
    # read snapshot that old into a write (the update would fail "database is locked").
    due = list(Site.select().where(Site.checked_at.is_null()
                                   | (Site.checked_at < now - interval)))
    count = 0
    for site in due:
        check_and_record(site, host, now)
        count += 1
    return count
