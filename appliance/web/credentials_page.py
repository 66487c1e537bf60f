"""Credentials for admins: subject, issuer, expiry, renewal history and the
sites that use each; nothing secret is shown (the database holds nothing secret)."""
from __future__ import annotations

import time

from flask import Blueprint, abort, render_template

from appliance import accounts, credentials
from appliance.models import Credential, CredentialEvent
from appliance.web.auth import current_user, login_required

blueprint = Blueprint("credentials", __name__)
HISTORY = 10  # events shown per credential


@blueprint.get("/admin/credentials")
@login_required
def credentials_page():
    if not accounts.is_admin(current_user()):
        abort(403, description="only an admin can see the credentials")
    now = time.time()
    rows = []
    for row in Credential.select().order_by(Credential.name):
        events = list(row.events.order_by(CredentialEvent.at.desc()).limit(HISTORY))
        rows.append({"credential": row, "health": credentials.health(row, now),
                     "sites": credentials.sites_using(row.name), "events": events})
    return render_template("credentials.html", rows=rows, now=now)
