"""The JSON API's reads under /api/v1 (anonymous, as HammerCloud's pages were,
unless HC_WEB_REQUIRE_LOGIN=1). Writes are in api_write; the OpenAPI document
describing both is served at /api/v1/openapi.json."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from appliance.health import robot
from appliance.health import views as health_views
from appliance.models import Job, Site, Template, Test, TestLog, TestSite
from appliance.web import queries

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_PAGE = 1000
TEST_FIELDS = ("id", "state", "state_reason", "category", "golden", "submit_host", "owner",
               "start_at", "end_at", "jobs_total", "jobs_completed", "jobs_failed",
               "efficiency", "wall_p50", "wall_p95")
JOB_FIELDS = ("id", "state", "attempt", "backend_id", "submit_host", "submitted_at",
              "started_at", "ended_at", "exit_code", "reason", "wall_seconds", "cpu_seconds",
              "metrics", "image_digest")


def _paging() -> tuple[int, int]:
    page = request.args.get("page", 1, type=int)
    size = request.args.get("per_page", 100, type=int)
    if page < 1 or not 1 <= size <= MAX_PAGE:
        abort(400, description=f"page must be ≥ 1 and per_page from 1 to {MAX_PAGE}")
    return page, size


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
    except ValueError:
        abort(404)


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
    if request.args.get("state"):
        query = query.where(Test.state == request.args["state"])
    if request.args.get("category"):
        query = query.where(Test.category == request.args["category"])
    return jsonify(tests=[test_dict(t) for t in query.paginate(page, size)], page=page)


@blueprint.get("/tests/<int:test_id>")
def test(test_id: int):
    row = Test.select(Test, Template).join(Template).where(Test.id == test_id).first()
    if row is None:
        abort(404)
    by_site = queries.site_counts(test_id)
    knobs = {ts.site.name: {k: getattr(ts, k) for k in ("max_running", "min_queue_depth",
                                                         "resubmit", "job_cap")}
             for ts in TestSite.select(TestSite, Site).join(Site)
             .where(TestSite.test == test_id)}
    return jsonify(test_dict(row) | {"summary": queries.total(by_site), "sites": {
        name: by_site.get(name, {}) | {"load": load} for name, load in knobs.items()}})


@blueprint.get("/tests/<int:test_id>/jobs")
def jobs(test_id: int):
    page, size = _paging()
    query = (Job.select(Job, Site.name.alias("site_name")).join(Site)
             .where(Job.test == test_id).order_by(Job.id))
    if request.args.get("site"):
        query = query.where(Site.name == request.args["site"])
    if request.args.get("state"):
        query = query.where(Job.state == request.args["state"])
    rows = query.paginate(page, size).objects()
    return jsonify(jobs=[{name: getattr(j, name) for name in JOB_FIELDS} |
                         {"site": j.site_name} for j in rows], page=page)


@blueprint.get("/tests/<int:test_id>/log")
def log(test_id: int):
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
        return jsonify(robot.matrix(request.args.get("days", 7, type=int)))
    except ValueError as error:
        abort(400, description=str(error))


@blueprint.get("/tests/<int:test_id>/export")
def export(test_id: int):
    """The test, all its jobs and its log in one document (what `hc run` judges)."""
    from appliance.run import results

    if Test.get_or_none(Test.id == test_id) is None:
        abort(404, description=f"no test {test_id}")
    return jsonify(results.to_dict(results.from_database(test_id)))


@blueprint.get("/openapi.json")
def openapi():
    from appliance.web.openapi import document
    return jsonify(document())
