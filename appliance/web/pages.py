"""Tests: the index (what runs now), the test list, and one test's page."""
from __future__ import annotations

import time

from flask import Blueprint, abort, current_app, render_template, request

from appliance import budget, credentials, phases, workers
from appliance.errors import BadInput
from appliance.health import robot
from appliance.health import views as health_views
from appliance.limits import MAX_PAGE_NUMBER, check_time
from appliance.liveness import agent_state
from appliance.models import Agent, Job, Site, Template, Test, TestLog, TestSite
from appliance.reports import queries
from appliance.states import TEST_FINAL, TEST_ON_SUBMIT_HOST, Category, Severity, TestState
from appliance.web import charts, intents, plot_numbers
from appliance.web.api import TEST
from appliance.web.auth import current_user

blueprint = Blueprint("pages", __name__)
PAGE_SIZE = 50


@blueprint.get("/")
def index():
    active = list(Test.select(Test, Template).join(Template)
                  .where(Test.state.in_([s.value for s in TEST_ON_SUBMIT_HOST]))
                  .order_by(Test.id.desc()))
    plain = [t for t in active if not t.golden]
    groups = {"golden": [t for t in active if t.golden],
              "stress": [t for t in plain if t.category == Category.STRESS],
              "functional": [t for t in plain if t.category == Category.FUNCTIONAL]}
    agents = list(Agent.select().order_by(Agent.role, Agent.host))
    sites = list(Site.select().order_by(Site.name))
    incidents = health_views.incidents(closed=False)["incidents"]
    return render_template("index.html", groups=groups, agents=agents, sites=sites,
                           incidents=incidents, now=time.time(),
                           credential_warnings=credentials.warnings(time.time()),
                           agent_state=agent_state,
                           dead_after=current_app.config["HC"].agent_dead_after,
                           week=robot.recent_efficiency(7),
                           disk=budget.budget(current_app.config["HC"]))


@blueprint.get("/tests/")
def test_list():
    query = Test.select(Test, Template).join(Template).order_by(Test.id.desc())
    state, category = request.args.get("state"), request.args.get("category")
    if state in {s.value for s in TestState}:
        query = query.where(Test.state == state)
    if category in set(Category):
        query = query.where(Test.category == category)
    if request.args.get("template"):
        query = query.where(Template.name == request.args["template"])
    if request.args.get("site"):
        with_site = (TestSite.select(TestSite.test).join(Site)
                     .where(Site.name == request.args["site"]))
        query = query.where(Test.id.in_(with_site))
    page = min(MAX_PAGE_NUMBER, max(1, request.args.get("page", 1, type=int)))
    tests = list(query.paginate(page, PAGE_SIZE))
    return render_template("tests.html", tests=tests, page=page,
                           more=len(tests) == PAGE_SIZE, args=request.args)


@blueprint.get(TEST)
def test_page(test_id: int):
    test = Test.select(Test, Template).join(Template).where(Test.id == test_id).first()
    if test is None:
        abort(404)
    by_site = queries.site_counts(test_id)
    knobs = (TestSite.select(TestSite, Site).join(Site).where(TestSite.test == test_id)
             .order_by(Site.name))
    jobs = _jobs(test_id)
    severity = request.args.get("severity")
    log = TestLog.select().where(TestLog.test == test_id).order_by(TestLog.id.desc()).limit(500)
    if severity in {s.value for s in Severity}:
        log = log.where(TestLog.severity == severity)
    final = TestState(test.state) in TEST_FINAL
    # Keyed by state too: a test that just ended gets its final plots at once.
    cache = current_app.extensions["hc_plots"]
    plots = cache.get((test_id, test.state), final, lambda: _plots(test, by_site, final))
    user = current_user()
    editable = intents.may_change(user, test) and not final
    return render_template("test.html", test=test, knobs=list(knobs), by_site=by_site,
                           actions=intents.allowed_actions(user, test), editable=editable,
                           total=queries.total(by_site), jobs=jobs,
                           reasons=queries.failure_reasons(test_id), log=list(log),
                           nodes=workers.nodes(test_id),
                           plots=plots, plot_file=plot_numbers.file_name,
                           severities=list(Severity), args=request.args)


def _plots(test: Test, by_site: dict[str, dict], final: bool) -> dict[str, str]:
    """The test page's plots as SVG text, from the data stored with the test's
    summary when it is current, else from aggregate queries made now."""
    data = plot_numbers.data_of(test, final)
    over_time = data["over_time"]
    plots = {"states": charts.jobs_by_state(queries.state_counts(by_site)) if by_site else "",
             "over_time": charts.states_over_time(over_time["seconds"], over_time["counts"])
             if over_time["seconds"] else "",
             "wall": charts.histogram([tuple(b) for b in data["wall"]], "Wall time (s)"),
             "efficiency": charts.efficiency_over_time(
                 {name: [tuple(p) for p in points] for name, points in data["efficiency"].items()},
                 "Efficiency over the test (cumulative)")}
    if data.get("breakdown"):  # plot data stored before phases were drawn has none
        plots["breakdown"] = charts.time_breakdown(data["breakdown"], "Where the time goes "
                                                   "(queue, then the payload's phases)")
    for metric, means in data["metrics"].items():
        plots[f"metric:{metric}"] = charts.metric_per_site(
            metric, {site: tuple(value) for site, value in means.items()})
    return plots


def _jobs(test_id: int) -> list:
    query = (Job.select(Job, Site.name.alias("site_name")).join(Site)
             .where(Job.test == test_id).order_by(Job.id.desc()))
    if request.args.get("site"):
        query = query.where(Site.name == request.args["site"])
    if request.args.get("job_state"):
        query = query.where(Job.state == request.args["job_state"])
    page = min(MAX_PAGE_NUMBER, max(1, request.args.get("jobs_page", 1, type=int)))
    jobs = list(query.paginate(page, PAGE_SIZE).objects())
    for job in jobs:
        job.phases = phases.of_job(job)
    return jobs


@blueprint.get("/sites/<name>/jobs")
def jobs_of_site(name: str):
    """Functional jobs of a site that ended in [start, end): what a robot cell counts."""
    start, end = request.args.get("start", type=float), request.args.get("end", type=float)
    try:  # the times a page can show: not NaN, not beyond the range of any test
        start, end = check_time(start, "start"), check_time(end, "end")
    except BadInput:
        abort(400)
    if end <= start:
        abort(400)
    jobs = list(Job.select(Job, Site.name.alias("site_name"), Test.id.alias("test_number"))
                .join(Site).switch(Job).join(Test)
                .where(Site.name == name, Test.category == Category.FUNCTIONAL.value,
                       Job.ended_at >= start, Job.ended_at < end)
                .order_by(Job.ended_at.desc()).limit(1000).objects())
    return render_template("site_jobs.html", name=name, jobs=jobs, start=start, end=end)
