"""The JSON API's reads under /api/v1 (anonymous, as HammerCloud's pages were,
unless HC_WEB_REQUIRE_LOGIN=1). Writes are in api_write; the OpenAPI document
describing both is served at /api/v1/openapi.json."""
from __future__ import annotations

from enum import Enum

from flask import Blueprint, abort, jsonify, request

from appliance.errors import BadInput
from appliance.health import robot
from appliance.health import views as health_views
from appliance.knobs import LOAD_KNOBS
from appliance.limits import MAX_ID, MAX_PAGE, MAX_PAGE_NUMBER
from appliance.models import Job, Site, Template, Test, TestLog, TestSite
from appliance.reports import queries
from appliance.states import Category, JobState, TestState

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
# Ids are 64-bit in SQLite and PostgreSQL: a larger id names no test (404), not a crash.
TEST = f"/tests/<int(max={MAX_ID}):test_id>"
TEST_FIELDS = ("id", "state", "state_reason", "category", "golden", "submit_host", "owner",
               "start_at", "end_at", "jobs_total", "jobs_completed", "jobs_failed",
               "efficiency", "wall_p50", "wall_p95", "image")
JOB_FIELDS = ("id", "state", "attempt", "backend_id", "submit_host", "submitted_at",
              "started_at", "ended_at", "exit_code", "reason", "wall_seconds", "cpu_seconds",
              "metrics", "image_digest", "worker")


def _int_arg(name: str, default: int) -> int:
    """A whole-number query parameter: a typo is a 400, not a silent default."""
    text = request.args.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        abort(400, description=f"{name} must be a whole number, not {text!r}")


def _choice_arg(name: str, kind: type[Enum]) -> str | None:
    """A filter that must be one of `kind`'s values (empty means no filter)."""
    value = request.args.get(name)
    if value and value not in {k.value for k in kind}:
        abort(400, description=f"{name} must be one of {', '.join(k.value for k in kind)}")
    return value or None


def _paging() -> tuple[int, int]:
    page, size = _int_arg("page", 1), _int_arg("per_page", 100)
    if not 1 <= page <= MAX_PAGE_NUMBER or not 1 <= size <= MAX_PAGE:
        abort(400, description=f"page must be from 1 to {MAX_PAGE_NUMBER} and per_page from 1 "
                               f"to {MAX_PAGE}")
    return page, size


def _require_test(test_id: int) -> None:
    """404 for a test that does not exist, rather than an empty list of its jobs or log."""
    if not Test.select().where(Test.id == test_id).exists():
        abort(404, description=f"no test {test_id}")


def test_dict(test: Test) -> dict:
    return {name: getattr(test, name) for name in TEST_FIELDS} | {"template": test.template.name}


def site_dict(site: Site) -> dict:
    return health_views.site_dict(site) | {
        "backend": site.backend, "cloud": site.cloud, "tags": site.tags,
        "check_ok": site.check_ok, "check_message": site.check_message,
        "checked_at": site.checked_at}


@blueprint.get("/sites")
def sites():
    return jsonify(sites=[site_dict(s) for s in Site.select().order_by(Site.name)])


@blueprint.get("/sites/<name>")
def site(name: str):
    try:
        return jsonify(health_views.site_health(name))
    except BadInput:
        abort(404)


@blueprint.get("/sites/<name>/history")
def site_history(name: str):
    """A site's daily functional counts, efficiency and wall times (from the rollups)."""
    if not Site.select().where(Site.name == name).exists():
        abort(404, description=f"no site named {name!r}")
    try:
        return jsonify(robot.site_overview(name, _int_arg("days", 50)))
    except ValueError as error:
        abort(400, description=str(error))


@blueprint.get("/templates")
def templates():
    rows = Template.select().order_by(Template.name)
    return jsonify(templates=[{"name": t.name, "category": t.category, "golden": t.golden,
                               "active": t.active, "duration": t.duration,
                               "max_running": t.max_running} for t in rows])


@blueprint.get("/tests")
def tests():
    page, size = _paging()
    query = Test.select(Test, Template).join(Template).order_by(Test.id.desc())
    state, category = _choice_arg("state", TestState), _choice_arg("category", Category)
    if state:
        query = query.where(Test.state == state)
    if category:
        query = query.where(Test.category == category)
    return jsonify(tests=[test_dict(t) for t in query.paginate(page, size)], page=page)


@blueprint.get(TEST)
def test(test_id: int):
    row = Test.select(Test, Template).join(Template).where(Test.id == test_id).first()
    if row is None:
        abort(404)
    by_site = queries.site_counts(test_id)
    knobs = {ts.site.name: {k: getattr(ts, k) for k in LOAD_KNOBS}
             for ts in TestSite.select(TestSite, Site).join(Site)
             .where(TestSite.test == test_id)}
    return jsonify(test_dict(row) | {"summary": queries.total(by_site), "sites": {
        name: by_site.get(name, {}) | {"load": load} for name, load in knobs.items()}})


@blueprint.get(TEST + "/jobs")
def jobs(test_id: int):
    page, size = _paging()
    _require_test(test_id)
    state = _choice_arg("state", JobState)
    query = (Job.select(Job, Site.name.alias("site_name")).join(Site)
             .where(Job.test == test_id).order_by(Job.id))
    if request.args.get("site"):
        query = query.where(Site.name == request.args["site"])
    if state:
        query = query.where(Job.state == state)
    rows = query.paginate(page, size).objects()
    return jsonify(jobs=[{name: getattr(j, name) for name in JOB_FIELDS} |
                         {"site": j.site_name} for j in rows], page=page)


@blueprint.get(TEST + "/log")
def log(test_id: int):
    _require_test(test_id)
    rows = TestLog.select().where(TestLog.test == test_id).order_by(TestLog.id)
    return jsonify(log=[{"at": r.at, "severity": r.severity, "message": r.message,
                         "actor": r.actor} for r in rows])


@blueprint.get("/health")
def health():
    return jsonify(health_views.overview())


@blueprint.get("/incidents")
def incidents():
    return jsonify(health_views.incidents())


@blueprint.get("/robot")
def robot_matrix():
    try:
        return jsonify(robot.matrix(_int_arg("days", 7)))
    except BadInput as error:
        abort(400, description=str(error))


@blueprint.get(TEST + "/export")
def export(test_id: int):
    """The test, all its jobs and its log in one document (what `hc run` judges)."""
    from appliance.ci import results

    _require_test(test_id)
    return jsonify(results.to_dict(results.from_database(test_id)))


@blueprint.get("/openapi.json")
def openapi():
    from appliance.web.openapi import document
    return jsonify(document())
