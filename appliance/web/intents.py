"""What the web and the API let people change, and who may: one place for both.

Requests arrive as plain mappings (a form or a JSON body). Each check collects
field errors instead of stopping at the first, so a form can show every
message next to its field; nothing is written unless all of them pass.
"""
from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from appliance import accounts, lifecycle
from appliance.config import parse_duration
from appliance.models import Site, Template, Test, User
from appliance.moments import parse_when
from appliance.specs import SpecError
from appliance.states import TEST_FINAL, Category, TestState

CREATE_FIELDS = {"template", "start", "end", "duration", "sites", "load", "description",
                 "image", "send_for_approval", "approve"}
MAX_DURATION = 30 * 86400  # s: a stress test longer than a month is a typing error


class FieldErrors(ValueError):
    """Bad input: {field: message}. Nothing was changed."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class Forbidden(Exception):
    """The user may not do this; the message says who may."""


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


def parse_test_request(data: Mapping, user: User, now: float | None = None) -> TestRequest:
    """A validated request to create a test from a template, or FieldErrors."""
    now = time.time() if now is None else now
    errors: dict[str, str] = {}
    for unknown in sorted(set(data) - CREATE_FIELDS):
        errors[unknown] = "unknown field; known: " + ", ".join(sorted(CREATE_FIELDS))
    template = _template(data.get("template"), user, errors)
    start, end = _times(data, template, now, errors)
    sites = _sites(data.get("sites"), template, errors)
    load = _load(data.get("load") or {}, errors)
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        errors["description"] = "must be text"
    image = data.get("image")
    if image is not None and (not isinstance(image, str) or not image.strip()):
        errors["image"] = "must be a container image name such as registry/user/image:tag"
    flags = {}
    for name, default in (("send_for_approval", True), ("approve", False)):
        flags[name] = data.get(name, default)
        if not isinstance(flags[name], bool):
            errors[name] = "must be true or false"
    if flags["approve"] is True and not accounts.is_admin(user):
        errors["approve"] = "only an admin can approve a test"
    if errors:
        raise FieldErrors(errors)
    return TestRequest(template, start, end, sites, load, description or None, image, **flags)


def _template(name, user: User, errors: dict) -> Template | None:
    if not isinstance(name, str) or not name:
        errors["template"] = "required: the name of a template"
        return None
    template = Template.get_or_none(Template.name == name)
    if template is None:
        errors["template"] = f"no template named {name!r}"
    elif not accounts.is_admin(user) and (template.category != Category.STRESS.value
                                          or not template.active):
        errors["template"] = ("only active stress templates can be used; functional tests are "
                              "made by the server")
        return None
    return template


def _times(data: Mapping, template: Template | None, now: float, errors: dict):
    start = end = None
    try:
        start = _moment(data.get("start", "now"), now)
    except SpecError as error:
        errors["start"] = str(error)
        return None, None
    if data.get("end") not in (None, "") and data.get("duration") not in (None, ""):
        errors["end"] = "give an end or a duration, not both"
        return start, None
    try:
        if data.get("end") not in (None, ""):
            end = _moment(data["end"], start if str(data["end"]).startswith("+") else now)
        elif data.get("duration") not in (None, ""):
            end = start + _duration(data["duration"])
        elif template is not None:
            end = start + template.duration
    except (SpecError, ValueError) as error:
        errors["end" if "end" in data and data["end"] else "duration"] = str(error)
        return start, None
    if end is not None and end <= start:
        errors["end"] = "must be after the start"
    elif end is not None and end - start > MAX_DURATION:
        errors["end"] = f"a test may last at most {MAX_DURATION // 86400} days"
    return start, end


def _moment(value, now: float) -> float:
    if isinstance(value, bool):
        raise SpecError("must be a time: now, +10m, an ISO time or UNIX seconds")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise SpecError("must be a finite time")
        return float(value)
    if not isinstance(value, str):
        raise SpecError("must be a time: now, +10m, an ISO time or UNIX seconds")
    return parse_when(value, now)


def _duration(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("must be a duration such as 30m or seconds")
    seconds = float(value) if not isinstance(value, str) else parse_duration(value)
    if not math.isfinite(seconds):
        raise ValueError("must be a finite duration")
    if seconds <= 0:
        raise ValueError("must be more than zero")
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


def _load(knobs, errors: dict, prefix: str = "load.") -> dict:
    if not isinstance(knobs, Mapping):
        errors[prefix.rstrip(".") or "load"] = "must be a mapping of load settings"
        return {}
    load = {}
    for name, value in knobs.items():
        if name not in lifecycle.LOAD_KNOBS:
            errors[prefix + name] = "unknown; known: " + ", ".join(lifecycle.LOAD_KNOBS)
            continue
        try:
            lifecycle.check_knob(name, value)
            load[name] = value
        except ValueError as error:
            errors[prefix + name] = str(error)
    return load


def create(request: TestRequest, user: User) -> Test:
    """Make the test and move it as far as asked (sent for approval, approved)."""
    test = lifecycle.create_test(request.template, request.start_at, request.end_at,
                                 owner=user.name, sites=request.sites, load=request.load,
                                 description=request.description)
    warnings = test.warnings
    if request.image:
        # The payload of this test only (CI runs a template with the image it built).
        Test.update(image=request.image).where(Test.id == test.id).execute()
        lifecycle.add_log(test.id, f"payload image -> {request.image}", actor=user.name)
    if request.send_for_approval or request.approve:
        lifecycle.send_for_approval(test.id, user.name)
    if request.approve:
        lifecycle.approve(test.id, user.name)
    test = Test.get_by_id(test.id)
    test.warnings = warnings
    return test


# Who may do what to an existing test. Anyone logged in may clone; the owner
# and admins may send, cancel and change the load; only admins approve.
def may_change(user: User | None, test: Test) -> bool:
    return user is not None and (accounts.is_admin(user) or test.owner == user.name)


def allowed_actions(user: User | None, test: Test) -> list[str]:
    """The actions to offer `user` on `test` (those that its state allows, too)."""
    if user is None:
        return []
    state = TestState(test.state)
    actions = []
    if may_change(user, test) and state is TestState.DRAFT:
        actions.append("send-for-approval")
    if accounts.is_admin(user) and state is TestState.UNAPPROVED:
        actions.append("approve")
    if may_change(user, test) and state not in TEST_FINAL:
        actions.append("cancel")
    actions.append("clone")
    return actions


def act(user: User, test: Test, action: str, now: float | None = None) -> Test:
    """Do `action` to `test` as `user`: Forbidden, TransitionRefused or the new test."""
    if action == "clone":
        return lifecycle.clone_test(test, user.name, start_at=now)
    if action == "approve" and not accounts.is_admin(user):
        raise Forbidden("only an admin can approve a test")
    if action in ("send-for-approval", "cancel") and not may_change(user, test):
        raise Forbidden(f"only the test's owner ({test.owner}) or an admin can {action} it")
    if action == "send-for-approval":
        lifecycle.send_for_approval(test.id, user.name)
    elif action == "approve":
        lifecycle.approve(test.id, user.name)
    elif action == "cancel":
        lifecycle.cancel(test.id, user.name)
    else:
        raise ValueError(f"unknown action {action!r}")
    return Test.get_by_id(test.id)


def change_load(user: User, test: Test, site_name: str, knobs: Mapping) -> list[str]:
    """Change a site's knobs in a test (its owner or an admin): FieldErrors on bad values."""
    if not may_change(user, test):
        raise Forbidden(f"only the test's owner ({test.owner}) or an admin can change its load")
    errors: dict[str, str] = {}
    load = _load(knobs, errors, prefix="")
    if not load and not errors:
        errors["load"] = "give at least one of " + ", ".join(lifecycle.LOAD_KNOBS)
    if errors:
        raise FieldErrors(errors)
    return lifecycle.set_load(test.id, site_name, user.name, **load)
