"""The OpenAPI document against the app: every /api/v1 route is described and
every description is a route; then schemathesis sends generated requests (valid
and invalid) to the app in-process and checks each answer against the document."""
from __future__ import annotations

import re

import pytest
import schemathesis

from appliance import lifecycle
from appliance.models import Template
from appliance.web.openapi import document

PREFIX = "/api/v1"
HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
# Werkzeug's `<converter(args):name>` and `<name>` both become OpenAPI's `{name}`.
VARIABLE = re.compile(r"<(?:[^<>:]+:)?(\w+)>")

# Small and derandomized: the run takes seconds and is the same on every CI machine.
CONFIG = schemathesis.Config.from_dict({
    "seed": 20240601,
    "generation": {"max-examples": 15, "deterministic": True, "database": "none"},
})


def _routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(PREFIX + "/"):
            path = VARIABLE.sub(r"{\1}", rule.rule.removeprefix(PREFIX))
            routes |= {(path, method) for method in rule.methods & HTTP_METHODS}
    return routes


def _documented() -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, operations in document()["paths"].items()
            for method in operations}


def test_every_route_is_described_and_every_description_is_a_route(app):
    assert document()["servers"] == [{"url": PREFIX}]
    routes, documented = _routes(app), _documented()
    assert routes - documented == set(), "routes missing from appliance/web/openapi.py"
    assert documented - routes == set(), "described in appliance/web/openapi.py, not routes"


def test_the_actions_described_are_the_actions_routed(app):
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "api_write.act")
    described = document()["paths"]["/tests/{test_id}/{action}"]["post"]["parameters"]
    action = next(p for p in described if p["name"] == "action")
    assert set(action["schema"]["enum"]) == rule._converters["action"].items


def test_the_document_is_served(app):
    reply = app.test_client().get(PREFIX + "/openapi.json")
    assert reply.status_code == 200 and reply.get_json() == document()


@pytest.fixture
def admin_headers(app, token_for):
    # A test for the generated test ids to find: small ids are drawn often.
    template = Template.get(Template.name == "stress-ping")
    lifecycle.create_test(template, 1_700_000_000, 1_700_000_600, owner="alice")
    return {"Authorization": f"Bearer {token_for('root')}"}


# Loaded from document() at import, not through a fixture: schemathesis's
# from_fixture needs a pytest internal (Function._nodeid) that pytest 9 dropped.
schema = schemathesis.openapi.from_dict(document(), config=CONFIG)


@schema.parametrize()
def test_the_api_answers_as_described(case, app, admin_headers):
    case.call_and_validate(app=app, headers=admin_headers)
