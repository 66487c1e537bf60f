"""The OpenAPI 3 document of /api/v1, kept beside the routes it describes.

tests/web/test_openapi.py checks that every route is described and runs
schemathesis against this document, so a route and its description cannot
drift apart unnoticed.
"""
from __future__ import annotations

from appliance import __version__
from appliance.compare.options import MAX_DIRECTIONS, MAX_SPEC
from appliance.knobs import KNOBS, LOAD_KNOBS, json_schema
from appliance.limits import MAX_ID, MAX_PAGE, MAX_PAGE_NUMBER
from appliance.states import Category, JobState, TestState

NUMBER_OR_NULL = {"type": ["number", "null"]}
INTEGER_OR_NULL = {"type": ["integer", "null"]}
STRING_OR_NULL = {"type": ["string", "null"]}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict, required: list[str] | None = None, extra: bool = True) -> dict:
    schema = {"type": "object", "properties": properties,
              "required": list(properties) if required is None else required}
    if not extra:
        schema["additionalProperties"] = False
    return schema


def _reply(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict:
    texts = {400: "bad input (with a message per field where it names fields); nothing changed",
             401: "no valid API token", 403: "not allowed for this user", 404: "not found",
             409: "the test's state does not allow this", 415: "the body is not JSON"}
    return {str(code): _reply(texts[code], _ref("Error")) for code in codes}


def _paging() -> list[dict]:
    return [{"name": "page", "in": "query",
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_NUMBER}},
            {"name": "per_page", "in": "query",
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}}]


def _path_parameter(name: str) -> dict:
    schema = {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _test_id() -> dict:
    return {"name": "test_id", "in": "path", "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}


def _query(name: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "schema": schema}


def _schemas() -> dict:
    load = _object({knob.name: json_schema(knob) for knob in KNOBS}, [], extra=False)
    test = _object({
        "id": {"type": "integer"}, "state": {"enum": [s.value for s in TestState]},
        "state_reason": {"type": "string"}, "category": {"enum": [c.value for c in Category]},
        "golden": {"type": "boolean"}, "submit_host": STRING_OR_NULL, "owner": {"type": "string"},
        "start_at": {"type": "number"}, "end_at": {"type": "number"},
        "jobs_total": {"type": "integer"}, "jobs_completed": {"type": "integer"},
        "jobs_failed": {"type": "integer"}, "efficiency": NUMBER_OR_NULL,
        "wall_p50": NUMBER_OR_NULL, "wall_p95": NUMBER_OR_NULL, "template": {"type": "string"},
        "image": STRING_OR_NULL})
    time_value = {"oneOf": [{"type": "string", "minLength": 1}, {"type": "number"}]}
    return {
        "Error": _object({"error": {"type": "string"},
                          "fields": {"type": "object", "description": "field -> message",
                                     "additionalProperties": {"type": "string"}}}, ["error"]),
        "Load": load,
        "Test": test,
        "TestDetail": {"allOf": [test, _object({
            "summary": {"type": "object"},
            "sites": {"type": "object", "additionalProperties": {"type": "object"}}})]},
        "TestCreated": {"allOf": [test, _object({"warnings": {"type": "array",
                                                              "items": {"type": "string"}}})]},
        "TestCreate": _object({
            "template": {"type": "string", "minLength": 1},
            "start": time_value, "end": time_value,
            "duration": {"oneOf": [{"type": "string", "minLength": 1},
                                   {"type": "number", "exclusiveMinimum": 0}]},
            "sites": {"type": "array", "items": {"type": "string"}},
            "load": load, "description": {"type": "string"},
            "image": {"type": "string", "minLength": 1},
            "send_for_approval": {"type": "boolean"}, "approve": {"type": "boolean"}},
            ["template"], extra=False),
        "Job": _object({
            "id": {"type": "integer"}, "site": {"type": "string"},
            "state": {"enum": [s.value for s in JobState]}, "attempt": {"type": "integer"},
            "backend_id": STRING_OR_NULL, "submit_host": STRING_OR_NULL,
            "submitted_at": NUMBER_OR_NULL, "started_at": NUMBER_OR_NULL,
            "ended_at": NUMBER_OR_NULL, "exit_code": INTEGER_OR_NULL, "reason": STRING_OR_NULL,
            "wall_seconds": NUMBER_OR_NULL, "cpu_seconds": NUMBER_OR_NULL,
            "metrics": {"type": ["object", "null"]}, "image_digest": STRING_OR_NULL,
            "worker": {"type": ["object", "null"],
                       "description": "the worker node (host, cpu, cores, memory_kb, os, "
                                      "kernel, runtime) as the job wrapper saw it"}}),
        "LogLine": _object({"at": {"type": "number"}, "severity": {"type": "string"},
                            "message": {"type": "string"}, "actor": {"type": "string"}}),
        "Site": _object({"site": {"type": "string"}, "status": {"type": "string"},
                         "backend": {"type": "string"}, "cloud": {"type": "string"},
                         "check_ok": {"type": ["boolean", "null"]}},
                        ["site", "status", "backend"]),
        "SitePut": _object({"backend": {"type": "string"}, "settings": {"type": "object"},
                            "cloud": {"type": "string"},
                            "tags": {"type": "array", "items": {"type": "string"}}},
                           ["backend"], extra=False),
        "Template": _object({"name": {"type": "string"}, "category": {"type": "string"},
                             "golden": {"type": "boolean"}, "active": {"type": "boolean"},
                             "duration": {"type": "integer"},
                             "max_running": {"type": "integer"}}),
        "TemplateDocument": {"type": "object", "description": "a template document, as for "
                             "`hc template add` (name, category, sites, load, job, ...)"},
        "Comparison": _object({
            "a": {"type": "object"}, "b": {"type": "object"}, "site": STRING_OR_NULL,
            "rows": {"type": "array", "items": _object({
                "site": {"type": "string"}, "figure": {"type": "string"},
                "unit": {"type": "string"}, "direction": {"enum": ["higher", "lower", None]},
                "test": {"enum": ["mann-whitney-u", "fisher-exact"]},
                "a": {"type": "object"}, "b": {"type": "object"},
                "difference": NUMBER_OR_NULL,
                "ci": {"type": ["array", "null"], "items": NUMBER_OR_NULL},
                "p": NUMBER_OR_NULL, "p_adjusted": NUMBER_OR_NULL,
                "verdict": {"enum": ["better", "worse", "higher", "lower",
                                     "no significant difference", "too few jobs"]}})},
            "sites_only_in_a": {"type": "array", "items": {"type": "string"}},
            "sites_only_in_b": {"type": "array", "items": {"type": "string"}},
            "cached": {"type": "boolean"}, "computed_at": {"type": "number"}},
            ["a", "b", "rows", "cached"]),
        "Export": _object({"test_id": {"type": "integer"}, "state": {"type": "string"},
                           "jobs": {"type": "array"}, "log": {"type": "array"}},
                          ["test_id", "state", "jobs", "log"]),
    }


def _json_body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _reads() -> dict:
    test_id = _test_id()
    listing = lambda key, item: _object({key: {"type": "array", "items": item}})  # noqa: E731
    return {
        "/sites": {"get": {"summary": "all sites with status and last check",
                           "responses": {"200": _reply("sites", listing("sites", _ref("Site")))}}},
        "/sites/{name}": {"get": {"summary": "one site's health: verdict and events",
                                  "parameters": [_path_parameter("name")],
                                  "responses": {"200": _reply("the site", {"type": "object"}),
                                                **_errors(404)}}},
        "/sites/{name}/history": {"get": {
            "summary": "one site's functional jobs per day (counts, efficiency, wall times)",
            "parameters": [_path_parameter("name"),
                           _query("days", {"type": "integer", "minimum": 1, "maximum": 365})],
            "responses": {"200": _reply("the days", {"type": "object"}), **_errors(400, 404)}}},
        "/templates": {"get": {"summary": "templates", "responses": {
            "200": _reply("templates", listing("templates", _ref("Template")))}}},
        "/tests": {"get": {"summary": "tests, newest first", "parameters": [
            _query("state", {"enum": [s.value for s in TestState]}),
            _query("category", {"enum": [c.value for c in Category]}), *_paging()],
            "responses": {"200": _reply("a page of tests", _object(
                {"tests": {"type": "array", "items": _ref("Test")},
                 "page": {"type": "integer"}})), **_errors(400)}}},
        "/tests/{test_id}": {"get": {"summary": "a test with its summary and per-site counts",
                                     "parameters": [test_id], "responses": {
                                         "200": _reply("the test", _ref("TestDetail")),
                                         **_errors(404)}}},
        "/tests/{test_id}/jobs": {"get": {"summary": "a test's jobs", "parameters": [
            test_id, _query("site", {"type": "string"}),
            _query("state", {"enum": [s.value for s in JobState]}), *_paging()],
            "responses": {"200": _reply("a page of jobs", _object(
                {"jobs": {"type": "array", "items": _ref("Job")}, "page": {"type": "integer"}})),
                **_errors(400, 404)}}},
        "/tests/{test_id}/log": {"get": {"summary": "a test's log", "parameters": [test_id],
                                         "responses": {"200": _reply("log lines", listing(
                                             "log", _ref("LogLine"))), **_errors(404)}}},
        "/tests/{test_id}/export": {"get": {"summary": "a test, all its jobs and its log",
                                            "parameters": [test_id], "responses": {
                                                "200": _reply("the export", _ref("Export")),
                                                **_errors(404)}}},
        "/compare": {"get": {
            "summary": "compare side b with side a (test:ID or template:NAME@START..END), or "
                       "site with the other sites of test a: per site and figure both "
                       "distributions, the difference of medians with a 95 % bootstrap "
                       "interval, a corrected p-value and a verdict",
            "parameters": [_query("a", {"type": "string", "minLength": 1, "maxLength": MAX_SPEC}),
                           _query("b", {"type": "string", "maxLength": MAX_SPEC}),
                           _query("site", {"type": "string", "maxLength": MAX_SPEC}),
                           {"name": "direction", "in": "query", "style": "form",
                            "explode": True, "schema": {
                                "type": "array", "maxItems": MAX_DIRECTIONS,
                                "items": {"type": "string",
                                          "pattern": "^.+:(higher|lower)$"}}}],
            "responses": {"200": _reply("the comparison", _ref("Comparison")),
                          **_errors(400)}}},
        "/health": {"get": {"summary": "site-health overview",
                            "responses": {"200": _reply("overview", {"type": "object"})}}},
        "/incidents": {"get": {"summary": "site-health incidents",
                               "responses": {"200": _reply("incidents", {"type": "object"})}}},
        "/robot": {"get": {"summary": "functional efficiency per site and day", "parameters": [
            _query("days", {"type": "integer", "minimum": 1, "maximum": 365})],
            "responses": {"200": _reply("the matrix", {"type": "object"}), **_errors(400)}}},
        "/whoami": {"get": {"summary": "the user of the token sent, or null",
                            "responses": {"200": _reply("the user", _object(
                                {"user": {"type": ["object", "null"]}}))}}},
        "/openapi.json": {"get": {"summary": "this document", "responses": {
            "200": _reply("the OpenAPI document", {"type": "object"})}}},
    }


def _writes() -> dict:
    test_id = _test_id()
    secured = [{"token": []}]
    return {
        "/tests": {"post": {
            "summary": "create a test from a template (sent for approval unless "
                       "send_for_approval is false; admins may approve at once)",
            "security": secured, "requestBody": _json_body(_ref("TestCreate")),
            "responses": {"201": _reply("the test", _ref("TestCreated")),
                          **_errors(400, 401, 415)}}},
        "/tests/{test_id}/{action}": {"post": {
            "summary": "send-for-approval (owner, admin), approve (admin), cancel (owner, "
                       "admin), clone (anyone), keep or unkeep (a stress test against "
                       "retention: owner, admin) a test",
            "security": secured, "parameters": [test_id, {
                "name": "action", "in": "path", "required": True,
                "schema": {"enum": ["send-for-approval", "approve", "cancel", "clone", "keep",
                                    "unkeep"]}}],
            "responses": {"200": _reply("the test", _ref("Test")),
                          "201": _reply("the clone", _ref("Test")),
                          **_errors(401, 403, 404, 409)}}},
        "/tests/{test_id}/sites/{site}": {"patch": {
            "summary": "change a site's load knobs while the test has not ended "
                       f"({', '.join(LOAD_KNOBS)})",
            "security": secured, "parameters": [test_id, _path_parameter("site")],
            "requestBody": _json_body(_ref("Load")),
            "responses": {"200": _reply("the changes, as written to the test log", _object(
                {"changes": {"type": "array", "items": {"type": "string"}}})),
                **_errors(400, 401, 403, 404, 409, 415)}}},
        "/templates/{name}": {"put": {
            "summary": "create or replace a template (admins)", "security": secured,
            "parameters": [_path_parameter("name")],
            "requestBody": _json_body(_ref("TemplateDocument")),
            "responses": {"200": _reply("stored", _object({"name": {"type": "string"},
                                                           "category": {"type": "string"}})),
                          **_errors(400, 401, 403, 415)}}},
        "/sites/{name}": {"put": {
            "summary": "create a site or change its backend settings (admins)",
            "security": secured, "parameters": [_path_parameter("name")],
            "requestBody": _json_body(_ref("SitePut")),
            "responses": {"200": _reply("changed", _ref("Site")),
                          "201": _reply("created", _ref("Site")),
                          **_errors(400, 401, 403, 415)}}},
    }


def document() -> dict:
    paths = _reads()
    for path, operations in _writes().items():
        paths.setdefault(path, {}).update(operations)
    return {
        "openapi": "3.1.0",
        "info": {"title": "hc-appliance API", "version": __version__,
                 "description": "Reads are anonymous unless the instance requires a login; "
                                "writes need `Authorization: Bearer TOKEN` (make tokens on "
                                "the account page or with `hc token add`)."},
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "components": {"schemas": _schemas(), "securitySchemes": {
            "token": {"type": "http", "scheme": "bearer"}}},
    }
