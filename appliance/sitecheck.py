"""Is a site's backend reachable and usable? HammerCloud checked credentials and
proxies; here each backend says (daemon answers, partition exists, ...).

Checks run in submit agents (they hold the backends; the server never calls one)
and from `hc site check`. The result is stored on the site.
"""
from __future__ import annotations

import time

from appliance.backends import BackendError, SettingsError, make_backend
from appliance.models import Site


def check(site: Site, host: str = "") -> tuple[bool, str]:
    try:
        return True, make_backend(site.backend, site.backend_settings, host).check()
    except (BackendError, SettingsError) as error:
        return False, str(error)


def check_and_record(site: Site, host: str = "", now: float | None = None) -> tuple[bool, str]:
    ok, message = check(site, host)
    (Site.update(check_ok=ok, check_message=message[:2000],
                 checked_at=time.time() if now is None else now)
     .where(Site.id == site.id).execute())
    return ok, message


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
