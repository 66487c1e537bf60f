"""Stored policy versions, incidents and evaluation records."""
from __future__ import annotations

import time

from appliance.db import database
from appliance.errors import BadInput
from appliance.health import policy as policy_module
from appliance.health.evaluation import IncidentView, Trip
from appliance.health.policy import Policy
from appliance.health.rules import Verdict
from appliance.models import Incident, PolicyVersion, Template
from appliance.states import Category

OPEN_STATES = ("open", "released")


# -- policy versions -----------------------------------------------------------

def functional_template_names() -> set[str]:
    return {n for (n,) in Template.select(Template.name)
            .where(Template.category == Category.FUNCTIONAL.value).tuples()}


def active_policy() -> tuple[int, Policy]:
    """(version, policy) in force; the shipped default becomes version 1 on first use."""
    row = PolicyVersion.select().order_by(PolicyVersion.id.desc()).first()
    if row is None:
        with database.atomic():
            row = PolicyVersion.select().order_by(PolicyVersion.id.desc()).first() or \
                PolicyVersion.create(source=policy_module.default_source(),
                                     name="atlas-default", loaded_by="default")
    # A stored policy passed validation once; template names are not checked
    # again, so deleting a template cannot stop the automation.
    return row.id, policy_module.parse(row.source)


def load_policy(source: str, actor: str, at: float | None = None) -> tuple[int, Policy]:
    """Validate and store a new version; the running one stays on any error."""
    parsed = policy_module.parse(source, known_templates=functional_template_names())
    row = PolicyVersion.create(source=source, name=parsed.name, loaded_by=actor,
                               loaded_at=time.time() if at is None else at)
    return row.id, parsed


def policy_source(version: int | None = None) -> PolicyVersion:
    if version is None:
        active_policy()
        return PolicyVersion.select().order_by(PolicyVersion.id.desc()).get()
    row = PolicyVersion.get_or_none(PolicyVersion.id == version)
    if row is None:
        raise BadInput(f"no policy version {version}")
    return row


# -- incidents -----------------------------------------------------------------

def current_incident() -> Incident | None:
    return (Incident.select().where(Incident.state.in_(OPEN_STATES))
            .order_by(Incident.id.desc()).first())


def incident_view(incident: Incident | None) -> IncidentView | None:
    if incident is None:
        return None
    return IncidentView(incident.id, incident.state, frozenset(incident.sites))


def _held(verdicts: list[Verdict]) -> dict:
    return {v.site: {"rule": v.rule, "evidence": [o.evidence() for o in v.evidence]}
            for v in verdicts}


def open_incident(trip: Trip, held: list[Verdict], version: int, now: float) -> Incident:
    return Incident.create(opened_at=now, state="open", trigger=trip.trigger,
                           summary=trip.summary, signature=trip.signature, sites=_held(held),
                           last_seen_at=now, policy_version=version)


def note_held(incident: Incident, held: list[Verdict], now: float) -> None:
    """Sites held again (or newly) under an open incident join its list."""
    sites = dict(incident.sites) | _held(held)
    Incident.update(sites=sites, last_seen_at=now).where(Incident.id == incident.id).execute()


def close_incident(incident_id: int, now: float) -> bool:
    return bool(Incident.update(state="closed", closed_at=now)
                .where(Incident.id == incident_id, Incident.state.in_(OPEN_STATES)).execute())


def release_incident(incident_id: int, actor: str, at: float | None = None) -> Incident:
    """An operator lets the held exclusions go ahead."""
    at = time.time() if at is None else at
    changed = (Incident.update(state="released", released_at=at, released_by=actor)
               .where(Incident.id == incident_id, Incident.state == "open").execute())
    incident = Incident.get_or_none(Incident.id == incident_id)
    if incident is None:
        raise BadInput(f"no incident {incident_id}")
    if not changed:
        raise BadInput(f"incident {incident_id} is {incident.state}: only an open incident "
                         "can be released")
    return incident


def incident_dict(incident: Incident) -> dict:
    return {"id": incident.id, "state": incident.state, "trigger": incident.trigger,
            "summary": incident.summary, "signature": incident.signature,
            "sites": incident.sites, "opened_at": incident.opened_at,
            "last_seen_at": incident.last_seen_at, "released_at": incident.released_at,
            "released_by": incident.released_by, "closed_at": incident.closed_at,
            "policy_version": incident.policy_version}
