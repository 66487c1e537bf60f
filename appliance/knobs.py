"""HammerCloud's load knobs, defined once: name, type, bounds, default, words.

Template documents, the web's forms, the API and its OpenAPI schema, the CLI's
options and the agents all derive what they accept and show from KNOBS, and
the one in-flight formula below is used by the submit agent (how many jobs to
send) and by the server agent (how loaded a submit host is).
"""
from __future__ import annotations

from dataclasses import dataclass

from appliance.errors import BadInput
from appliance.limits import MAX_KNOB


@dataclass(frozen=True)
class Knob:
    name: str
    kind: type            # int or bool
    default: object
    label: str            # as the forms and tables say it
    help: str
    minimum: int = 0      # ints only
    nullable: bool = False  # None allowed (job_cap: no cap)

    @property
    def is_flag(self) -> bool:
        return self.kind is bool

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")


KNOBS = (
    Knob("max_running", int, 1, "max running", "jobs a site runs at once", minimum=1),
    Knob("min_queue_depth", int, 0, "min queue depth",
         "jobs kept queued at a site beyond max running"),
    Knob("resubmit", bool, True, "resubmit", "send a new job as each one ends"),
    Knob("job_cap", int, None, "job cap", "jobs a site gets over the whole test (none: no cap)",
         minimum=1, nullable=True),
)
BY_NAME = {knob.name: knob for knob in KNOBS}
LOAD_KNOBS = tuple(BY_NAME)


class KnobError(BadInput):
    """A value a knob does not take; `knob` and `reason` let a caller word it its way."""

    def __init__(self, knob: Knob, reason: str):
        super().__init__(f"{knob.name} {reason}")
        self.knob = knob
        self.reason = reason


def check_knob(name: str, value):
    """`value` if the load knob `name` takes it; KnobError (or BadInput) otherwise."""
    knob = BY_NAME.get(name)
    if knob is None:
        raise BadInput(f"unknown load setting {name!r}; known: " + ", ".join(LOAD_KNOBS))
    if value is None and knob.nullable:
        return None
    if knob.kind is bool:
        if not isinstance(value, bool):
            raise KnobError(knob, "must be true or false")
        return value
    if not isinstance(value, int) or isinstance(value, bool):
        raise KnobError(knob, "must be a whole number")
    if value < knob.minimum:
        raise KnobError(knob, f"must be at least {knob.minimum}")
    if value > MAX_KNOB:
        raise KnobError(knob, f"must be at most {MAX_KNOB}")
    return value


def json_schema(knob: Knob) -> dict:
    """The knob as a JSON Schema (for the OpenAPI document)."""
    if knob.kind is bool:
        return {"type": "boolean", "description": knob.help}
    schema = {"type": ["integer", "null"] if knob.nullable else "integer",
              "minimum": knob.minimum, "maximum": MAX_KNOB, "description": knob.help}
    return schema


def target_in_flight(max_running: int, min_queue_depth: int) -> int:
    """Jobs a site is kept at (queued or running): a batch system runs max_running of
    them and keeps the rest queued; a backend without a queue runs them all."""
    return max_running + min_queue_depth


def target_in_flight_sql(row):
    """The same formula over a model's columns (TestSite), for aggregates in SQL."""
    return row.max_running + row.min_queue_depth
