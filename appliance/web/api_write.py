"""The JSON API's writes: tests (create, act, change load), and for admins the
templates and sites a CI run brings along. Authenticated by API token only
(see auth); bad bodies get 400 with a message per field and change nothing."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, request, url_for

from appliance import accounts
from appliance.documents import SpecError, check_site, save_template
from appliance.errors import BadInput, FieldErrors
from appliance.lifecycle import TransitionRefused
from appliance.models import Site, Test
from appliance.web import intents
from appliance.web.api import TEST, site_dict, test_dict
from appliance.web.auth import current_user, login_required

blueprint = Blueprint("api_write", __name__, url_prefix="/api/v1")
# The fields of a site body, each with its JSON type (checked before check_site sees them).
SITE_FIELDS = {"backend": (str, "text"), "settings": (dict, "an object"),
               "cloud": (str, "text"), "tags": (list, "a list of names")}


def _body() -> dict:
    if not request.is_json:
        abort(415, description="send a JSON object with Content-Type: application/json")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, description="the body must be a JSON object")
    return body


def _field_errors(errors: dict[str, str]):
    return jsonify(error="; ".join(f"{k}: {v}" for k, v in errors.items()), fields=errors), 400


def _spec_error(error: SpecError):
    field, _, message = str(error).partition(": ")
    return jsonify(error=str(error), fields={field: message or str(error)}), 400


def _test_or_404(test_id: int) -> Test:
    test = Test.get_or_none(Test.id == test_id)
    if test is None:
        abort(404, description=f"no test {test_id}")
    return test


def _require_admin() -> None:
    if not accounts.is_admin(current_user()):
        abort(403, description="only an admin can do this")


@blueprint.post("/tests")
@login_required
def create_test():
    try:
        test_request = intents.parse_test_request(_body(), current_user())
    except FieldErrors as problem:
        return _field_errors(problem.errors)
    test = intents.create(test_request, current_user())
    reply = jsonify(test_dict(test) | {"warnings": test.warnings})
    return reply, 201, {"Location": url_for("api.test", test_id=test.id)}


@blueprint.post(TEST + "/<any('send-for-approval', approve, cancel, clone, keep, unkeep):action>")
@login_required
def act(test_id: int, action: str):
    test = _test_or_404(test_id)
    try:
        result = intents.act(current_user(), test, action)
    except intents.Forbidden as refusal:
        abort(403, description=str(refusal))
    except TransitionRefused as refusal:
        abort(409, description=str(refusal))
    return jsonify(test_dict(result)), 201 if action == "clone" else 200


@blueprint.patch(TEST + "/sites/<site>")
@login_required
def change_load(test_id: int, site: str):
    test = _test_or_404(test_id)
    try:
        changes = intents.change_load(current_user(), test, site, _body())
    except intents.Forbidden as refusal:
        abort(403, description=str(refusal))
    except FieldErrors as problem:
        return _field_errors(problem.errors)
    except TransitionRefused as refusal:
        abort(409, description=str(refusal))
    except BadInput as problem:  # the site is not in the test
        abort(404, description=str(problem))
    return jsonify(changes=changes)


@blueprint.put("/templates/<name>")
@login_required
def put_template(name: str):
    """Create or replace a template from a template document (admins)."""
    _require_admin()
    document = _body()
    if document.setdefault("name", name) != name:
        return _field_errors({"name": f"must be {name!r}, the name in the URL"})
    try:
        template = save_template(document, replace=True)
    except SpecError as error:
        return _spec_error(error)
    return jsonify(name=template.name, category=template.category), 200


@blueprint.put("/sites/<name>")
@login_required
def put_site(name: str):
    """Create a site, or change its backend settings (admins); status is left alone."""
    _require_admin()
    body = _body()
    errors = _site_body_errors(body)
    if errors:
        return _field_errors(errors)
    try:
        values = check_site(name, body.get("backend", ""), body.get("settings", {}),
                            body.get("cloud", ""), body.get("tags"))
    except SpecError as error:
        return _spec_error(error)
    site = Site.get_or_none(Site.name == name)
    if site is None:
        site = Site.create(**values)
        return jsonify(site_dict(site)), 201
    Site.update(**values).where(Site.id == site.id).execute()
    return jsonify(site_dict(Site.get_by_id(site.id))), 200


def _site_body_errors(body: dict) -> dict[str, str]:
    unknown = sorted(set(body) - set(SITE_FIELDS))
    if unknown:
        return {unknown[0]: "unknown field; known: " + ", ".join(sorted(SITE_FIELDS))}
    return {name: f"must be {SITE_FIELDS[name][1]}" for name, value in body.items()
            if not isinstance(value, SITE_FIELDS[name][0])}


@blueprint.get("/whoami")
def whoami():
    user = current_user()
    return jsonify(user=None if user is None else {"name": user.name, "role": user.role})
