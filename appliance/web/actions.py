"""Pages that change things: a stress test in three clicks, test actions, load
knobs, and the tests waiting for approval. Every form carries a CSRF token
(checked in auth) and needs a login; rules live in intents."""
from __future__ import annotations

import time

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from appliance import accounts, reviews
from appliance.errors import BadInput, FieldErrors
from appliance.knobs import KNOBS, LOAD_KNOBS
from appliance.lifecycle import TransitionRefused
from appliance.models import Site, Template, Test
from appliance.moments import iso_seconds
from appliance.states import Category, SiteStatus, TestState
from appliance.web import intents
from appliance.web.api import TEST
from appliance.web.auth import current_user, login_required

blueprint = Blueprint("actions", __name__)
ACTIONS = ("send-for-approval", "approve", "cancel", "clone", "keep", "unkeep")


@blueprint.get("/create")
@login_required
def choose_template():
    """Click 1: the templates a user can start a stress test from."""
    query = Template.select().order_by(Template.golden.desc(), Template.name)
    if not accounts.is_admin(current_user()):
        query = query.where(Template.category == Category.STRESS.value, Template.active)
    return render_template("create_choose.html", templates=list(query))


@blueprint.route("/create/<name>", methods=["GET", "POST"])
@login_required
def create_test(name: str):
    """Click 2: start, end and sites, filled from the template. Click 3: submit."""
    template = Template.get_or_none(Template.name == name)
    if template is None:
        abort(404)
    if request.method == "GET":
        return _create_form(template, _defaults(template), {})
    data = _form_request(template)
    try:
        test_request = intents.parse_test_request(data, current_user())
    except FieldErrors as problem:
        return _create_form(template, request.form, problem.errors), 400
    test = intents.create(test_request, current_user())
    for warning in test.warnings:
        flash(f"warning: {warning}")
    flash(f"test {test.id} created: {test.state}")
    return redirect(url_for("pages.test_page", test_id=test.id), 303)


def _defaults(template: Template) -> dict:
    now = time.time()
    return {"start": iso_seconds(now), "end": iso_seconds(now + template.duration),
            "sites": [ts.site.name for ts in template.template_sites],
            **{k: getattr(template, k) for k in LOAD_KNOBS}}


def _create_form(template: Template, values, errors: dict):
    chosen = values.getlist("sites") if hasattr(values, "getlist") else values["sites"]
    sites = list(Site.select().order_by(Site.name))
    return render_template("create_form.html", template=template, values=values,
                           chosen=set(chosen), sites=sites, errors=errors,
                           excluded=SiteStatus.EXCLUDED.value,
                           admin=accounts.is_admin(current_user()))


def _form_request(template: Template) -> dict:
    """The form's strings in the shape intents expects (numbers as numbers)."""
    form = request.form
    data = {"template": template.name, "start": form.get("start") or "now",
            "sites": form.getlist("sites") or None,
            "send_for_approval": True, "approve": form.get("approve") == "1"}
    if form.get("description"):
        data["description"] = form["description"]
    data["end" if form.get("end") else "duration"] = form.get("end") or form.get("duration")
    data["load"] = _form_load(form)
    return data


def _form_load(form) -> dict:
    load = {}
    for knob in KNOBS:
        if knob.is_flag:
            if "resubmit_shown" in form:  # an unchecked box sends nothing
                load[knob.name] = form.get(knob.name) == "on"
            continue
        text = (form.get(knob.name) or "").strip()
        if knob.nullable and text == "":
            load[knob.name] = None
        elif text:
            load[knob.name] = _whole_or_text(text)
    return load


def _whole_or_text(text: str):
    """A form's number as an int, or the text itself for intents to refuse with a message."""
    try:
        return int(text)
    except ValueError:  # not a number, or too many digits for Python to convert
        return text


def _test_or_404(test_id: int) -> Test:
    test = Test.get_or_none(Test.id == test_id)
    if test is None:
        abort(404)
    return test


def _refused(title: str, why, status: int):
    """A page saying why nothing was changed, with its HTTP status."""
    return render_template("message.html", title=title, message=str(why)), status


@blueprint.post(TEST + "/<action>")
@login_required
def act(test_id: int, action: str):
    if action not in ACTIONS:
        abort(404)
    test = _test_or_404(test_id)
    try:
        result = intents.act(current_user(), test, action)
    except intents.Forbidden as refusal:
        return _refused("Not allowed", refusal, 403)
    except TransitionRefused as refusal:
        return _refused("Not possible now", refusal, 409)
    if action == "clone":
        flash(f"test {result.id} cloned from test {test.id} (a draft: send it for approval)")
    elif action in ("keep", "unkeep"):
        flash(f"test {test.id}: " + ("kept: retention leaves it alone" if result.keep
                                     else "no longer kept"))
    else:
        flash(f"test {test.id}: {result.state}")
    return redirect(url_for("pages.test_page", test_id=result.id), 303)


@blueprint.post(TEST + "/load")
@login_required
def change_load(test_id: int):
    test = _test_or_404(test_id)
    form = request.form
    try:
        changes = intents.change_load(current_user(), test, form.get("site", ""),
                                      _form_load(form))
    except intents.Forbidden as refusal:
        return _refused("Not allowed", refusal, 403)
    except FieldErrors as problem:
        return _refused("Load not changed", problem, 400)
    except TransitionRefused as refusal:
        return _refused("Load not changed", refusal, 409)
    except BadInput as problem:  # the site is not part of the test
        return _refused("Load not changed", f"site: {problem}", 400)
    flash("; ".join(changes) or "nothing changed")
    return redirect(url_for("pages.test_page", test_id=test_id) + "#sites", 303)


@blueprint.get("/approvals")
@login_required
def approvals():
    """Tests waiting for an admin (anyone logged in can see the queue)."""
    waiting = list(Test.select(Test, Template).join(Template)
                   .where(Test.state == TestState.UNAPPROVED.value).order_by(Test.id))
    return render_template("approvals.html", reviews=[reviews.review(t) for t in waiting],
                           admin=accounts.is_admin(current_user()))
