"""The OpenAPI document against the app: every /api/v1 route is described and
every description is a route; then schemathesis sends generated requests (valid
and invalid) to the app in-process and checks each answer against the document."""
from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from appliance import lifecycle
from appliance.models import Template
from appliance.web.openapi import document

PREFIX = "/api/v1"
HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
# Werkzeug's `<converter(args):name>` and `<name>` both become OpenAPI's `{name}`.
VARIABLE = re.compile(r"<(?:[^<>:]+:)?(\w+)>")

# Small and derandomized: the run takes seconds and is the same on every CI machine.
# Every built-in check runs (no 5xx, documented status codes, content types and
# bodies, invalid input refused, 405 with Allow...) but one: positive_data_acceptance
# wants 2xx for any schema-valid body, but a valid body may name a template or
# backend that does not exist: that is a 400.
CONFIG = schemathesis.Config.from_dict({
    "seed": 20240601,
    "generation": {"max-examples": 15, "deterministic": True, "database": "none"},
    "checks": {"positive_data_acceptance": {"enabled": False}},
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


class CurrentApp:
    """A WSGI app passing each request on to the app of the running test: the
    schema is made at import, before any test has built its app and database."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


# Loaded from document() at import, not through a fixture: schemathesis's
# from_fixture needs a pytest internal (Function._nodeid) that pytest 9 dropped.
# The schema's app is also where checks send their own probes (e.g. no token).
schema = schemathesis.openapi.from_dict(document(), config=CONFIG)
schema.app = CurrentApp()


@pytest.fixture
def admin_headers(app, token_for):
    # A test for generated ids to find (small ids are drawn often): 200s get checked too.
    template = Template.get(Template.name == "stress-ping")
    lifecycle.create_test(template, 1_700_000_000, 1_700_000_600, owner="alice")
    schema.app.app = app
    yield {"Authorization": f"Bearer {token_for('root')}"}
    schema.app.app = None


@schema.parametrize()
# One app (and database) per operation, shared by its examples: what one request
# changes (a site created, a test cloned) is what the next one finds.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_api_answers_as_described(case, admin_headers):
    case.call_and_validate(headers=admin_headers)
