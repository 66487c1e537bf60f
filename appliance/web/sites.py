"""Sites: one site's page (status history, checks, daily efficiency) and the robot."""
from __future__ import annotations

import time

from flask import Blueprint, abort, current_app, render_template, request, url_for
from markupsafe import Markup, escape

from appliance import credentials, phases
from appliance.health import robot
from appliance.health import views as health_views
from appliance.models import Credential, Site, Template, TemplateSite, Test, TestSite
from appliance.states import Category
from appliance.web import charts, percent_text, site_evolution

blueprint = Blueprint("sites", __name__)


@blueprint.get("/sites/<name>")
def site_page(name: str):
    site = Site.get_or_none(Site.name == name)
    if site is None:
        abort(404)
    days = min(robot.MAX_DAYS, max(1, request.args.get("days", 50, type=int)))
    recent = _recent_functional(site)
    overview = robot.site_overview(name, days)
    # Keyed by the numbers drawn: the same days make the same plot (kept per worker).
    key = ("site-history", tuple((c["day"], c["completed"], c["failed"], c["killed"], c["lost"])
                                 for c in overview["days"]))
    plot = current_app.extensions["hc_plots"].get(
        key, True, lambda: {"svg": charts.daily_history(overview["days"])})["svg"]
    name_of = credentials.site_credential(site)
    row = Credential.get_or_none(Credential.name == name_of) if name_of else None
    credential = credentials.health(row, time.time()) if row else None
    breakdown, breakdown_plot = _breakdown(site, days)
    evolution = site_evolution.for_page(site, days, request.args.get("template"))
    return render_template("site.html", site=site, credential_name=name_of, credential=credential,
                           events=health_views.site_events(name)["events"],
                           overview=overview, plot=plot, breakdown=breakdown,
                           breakdown_plot=breakdown_plot, evolution=evolution,
                           recent=recent, days=days, choices=robot.DAY_CHOICES)


def _breakdown(site: Site, days: int) -> tuple[dict, str]:
    """Where the time of the site's jobs went over the days shown, per template (rollups)."""
    end = robot.day_start(time.time()) + robot.DAY
    parts = phases.of_site(site.id, end - days * robot.DAY, end)
    if not parts:
        return {}, ""
    key = ("site-breakdown", site.id, days, tuple((g, tuple(p.items())) for g, p in parts.items()))
    plot = current_app.extensions["hc_plots"].get(key, True, lambda: {
        "svg": charts.time_breakdown(parts, f"Where the time goes, per template ({days} days)")})
    return parts, plot["svg"]


def _recent_functional(site: Site) -> list:
    tests = TestSite.select(TestSite.test).where(TestSite.site == site.id)
    return list(Test.select(Test, Template).join(Template)
                .where(Test.id.in_(tests), Test.category == Category.FUNCTIONAL.value)
                .order_by(Test.id.desc()).limit(10))


@blueprint.get("/robot")
def robot_page():
    days = min(robot.MAX_DAYS, max(1, request.args.get("days", 7, type=int)))
    matrix = robot.matrix(days)
    cells = {row["site"]: _robot_cells(row) for row in matrix["sites"]}
    return render_template("robot.html", matrix=matrix, cells=cells, days=days,
                           choices=robot.DAY_CHOICES,
                           incidents=health_views.incidents()["incidents"])


def _robot_cells(row: dict) -> Markup:
    """A site's robot cells as HTML, made here rather than in the template: a year is
    5,300 cells, and escaping each of their values in Jinja cost more than the rest of
    the page. Only the site's link needs escaping; the rest are numbers and colours."""
    jobs = escape(url_for("pages.jobs_of_site", name=row["site"]))
    made = []
    for cell in row["cells"]:
        title = f'{cell["completed"]} completed, {cell["failed"]} failed'
        shown = (f'<a href="{jobs}?start={int(cell["from"])}&amp;end={int(cell["to"])}">'
                 f'{percent_text(cell["efficiency"])}</a>') if cell["total"] else "-"
        made.append(f'<td class="cell-{cell["colour"]} num" title="{title}">{shown}</td>')
    return Markup("".join(made))


@blueprint.get("/templates/")
def templates():
    rows = list(Template.select().order_by(Template.category, Template.name))
    sites = {}
    for template_id, name in (TemplateSite.select(TemplateSite.template, Site.name).join(Site)
                              .tuples()):
        sites.setdefault(template_id, []).append(name)
    return render_template("templates.html", templates=rows, sites=sites)
