"""Create a test: the one validation and creation used by every door.

The CLI (`hc test create`), the web's form, the API's POST tests and `hc run`
hand in the same plain mapping (a form or a JSON body, with numbers as
numbers); every check collects field errors instead of stopping at the first,
so a form can show each message next to its field. Nothing is written unless
all of them pass. Times and lengths are bounded by appliance.limits, load
knobs by appliance.knobs.
"""
from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from appliance import lifecycle, registry
from appliance.config import parse_duration
from appliance.errors import BadInput, FieldErrors
from appliance.knobs import LOAD_KNOBS, check_knob
from appliance.limits import check_span
from appliance.models import Site, Template, Test
from appliance.moments import parse_when
from appliance.states import Category

CREATE_FIELDS = {"template", "start", "end", "duration", "sites", "load", "description",
                 "image", "send_for_approval", "approve"}

@dataclass
class TestRequest:
    template: Template
    start_at: float
    end_at: float
    sites: list[Site]
    load: dict = field(default_factory=dict)
    description: str | None = None
    image: str | None = None
    send_for_approval: bool = True
    approve: bool = False
    image_asked: str | None = None  # the image as named, before its tag was resolved


def parse_test_request(data: Mapping, admin: bool, now: float | None = None) -> TestRequest:
    """A validated request to create a test from a template, or FieldErrors.

    `admin`: the requester may use any template and approve at once (admins of
    the web and the API, operators on the command line); others may use active
    stress templates only and their test waits for an admin's approval."""
    now = time.time() if now is None else now
    errors: dict[str, str] = {}
    for unknown in sorted(set(data) - CREATE_FIELDS):
        errors[unknown] = "unknown field; known: " + ", ".join(sorted(CREATE_FIELDS))
    template = _template(data.get("template"), admin, errors)
    start, end = _times(data, template, now, errors)
    sites = _sites(data.get("sites"), template, errors)
    load = parse_load(data.get("load") or {}, errors)
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        errors["description"] = "must be text"
    image = _image(data.get("image"), template, errors, sites)
    flags = {}
    for name, default in (("send_for_approval", True), ("approve", False)):
        flags[name] = data.get(name, default)
        if not isinstance(flags[name], bool):
            errors[name] = "must be true or false"
    if flags["approve"] is True and not admin:
        errors["approve"] = "only an admin can approve a test"
    if errors:
        raise FieldErrors(errors)
    return TestRequest(template, start, end, sites, load, description or None, image, **flags,
                       image_asked=data.get("image") or (
                           template.job_template.image if template else None))


def _image(image, template: Template | None, errors: dict, sites) -> str | None:
    """The test's image, a registry tag resolved to its digest now (once)."""
    if image is not None and (not isinstance(image, str) or not image.strip()):
        errors["image"] = "must be a container image name such as registry/user/image:tag"
        return None
    wanted = image or (template.job_template.image if template is not None else None)
    if not wanted or errors:  # ask no registry for a request refused anyway
        return wanted
    try:
        lifecycle.refuse_sites_without_images(wanted, sites or [])
        return registry.pin_for_test(wanted)
    except registry.ImageRefused as refusal:
        errors["image"] = str(refusal)
        return None


def clone_refusal(source, admin: bool) -> str | None:
    """Why `source` (a Test) may not be cloned by this requester, or None: a
    clone is a creation, so the same rule as for creating from its template."""
    errors: dict[str, str] = {}
    template = _template(source.template.name, admin, errors)
    if template is not None and not admin and source.category != Category.STRESS.value:
        errors["template"] = "only stress tests can be cloned; functional tests are made by " \
                             "the server"
    return errors.get("template")


def _template(name, admin: bool, errors: dict) -> Template | None:
    if not isinstance(name, str) or not name:
        errors["template"] = "required: the name of a template"
        return None
    template = Template.get_or_none(Template.name == name)
    if template is None:
        errors["template"] = f"no template named {name!r}"
    elif not admin and (template.category != Category.STRESS.value or not template.active):
        errors["template"] = ("only active stress templates can be used; functional tests are "
                              "made by the server")
        return None
    return template


def _times(data: Mapping, template: Template | None, now: float, errors: dict):
    start = end = None
    try:
        start = _moment(data.get("start", "now"), now, "start")
    except BadInput as error:
        errors["start"] = str(error)
        return None, None
    if data.get("end") not in (None, "") and data.get("duration") not in (None, ""):
        errors["end"] = "give an end or a duration, not both"
        return start, None
    try:
        if data.get("end") not in (None, ""):
            end = _moment(data["end"], start if str(data["end"]).startswith("+") else now, "end")
        elif data.get("duration") not in (None, ""):
            end = start + _duration(data["duration"])
        elif template is not None:
            end = start + template.duration
    except BadInput as error:
        errors["end" if "end" in data and data["end"] else "duration"] = str(error)
        return start, None
    if end is not None:
        try:
            check_span(start, end)
        except FieldErrors as problem:
            errors.update(problem.errors)
    return start, end


def _moment(value, now: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadInput("must be a time: now, +10m, an ISO time or UNIX seconds")
    if isinstance(value, str):
        value = parse_when(value, now)
    if isinstance(value, float) and not math.isfinite(value):
        raise BadInput("must be a finite time")
    return float(value)


def _duration(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadInput("must be a duration such as 30m or seconds")
    seconds = float(value) if not isinstance(value, str) else parse_duration(value)
    if not math.isfinite(seconds):
        raise BadInput("must be a finite duration")
    if seconds <= 0:
        raise BadInput("must be more than zero")
    return seconds


def _sites(names, template: Template | None, errors: dict) -> list[Site]:
    if names is None or names == []:
        if template is None:
            return []
        sites = [ts.site for ts in template.template_sites]
        if not sites:
            errors["sites"] = "the template names no sites: choose at least one"
        return sites
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        errors["sites"] = "must be a list of site names"
        return []
    sites = list(Site.select().where(Site.name.in_(names)))
    missing = sorted(set(names) - {s.name for s in sites})
    if missing:
        errors["sites"] = f"unknown site {missing[0]!r}"
    return sites


def parse_load(knobs, errors: dict, prefix: str = "load.") -> dict:
    """The load knobs of a mapping, each checked; problems go to `errors`."""
    if not isinstance(knobs, Mapping):
        errors[prefix.rstrip(".") or "load"] = "must be a mapping of load settings"
        return {}
    load = {}
    for name, value in knobs.items():
        if name not in LOAD_KNOBS:
            errors[prefix + name] = "unknown; known: " + ", ".join(LOAD_KNOBS)
            continue
        try:
            load[name] = check_knob(name, value)
        except BadInput as error:
            errors[prefix + name] = str(error)
    return load


def create(request: TestRequest, owner: str) -> Test:
    """Make the test and move it as far as asked (sent for approval, approved)."""
    test = lifecycle.create_test(request.template, request.start_at, request.end_at,
                                 owner=owner, sites=request.sites, load=request.load,
                                 description=request.description, image=request.image,
                                 resolved_from=request.image_asked)
    warnings = test.warnings
    if request.send_for_approval or request.approve:
        lifecycle.send_for_approval(test.id, owner)
    if request.approve:
        lifecycle.approve(test.id, owner)
    test = Test.get_by_id(test.id)
    test.warnings = warnings
    return test


