"""A site's evolution for one template (golden templates first): plots, a table's CSV."""
from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, abort, current_app, request

from appliance.models import Site, Template
from appliance.reports import site_evolution
from appliance.web import charts

blueprint = Blueprint("site_evolution", __name__)
FIGURES = (("wall_p50", "wall p50"), ("wall_p90", "wall p90"),
           ("cpu_efficiency", "CPU efficiency"), ("queue", "queue (mean)"),
           ("efficiency", "efficiency"), ("jobs", "jobs"),
           ("cpu_efficiency_p50", "CPU efficiency p50"),
           ("cpu_efficiency_p90", "CPU efficiency p90"),
           ("queue_p50", "queue p50"), ("queue_p90", "queue p90"))


def for_page(site: Site, days: int, chosen: str | None) -> dict | None:
    """What the site page shows: the templates to choose from, the chosen one's days and
    its plots (None when no template has rollups at the site)."""
    templates = site_evolution.templates_at(site.id)
    if not templates:
        return None
    template = next((t for t in templates if t.name == chosen), templates[0])
    data = site_evolution.evolution(site, template, days)
    key = ("site-evolution", site.id, template.id, days,
           tuple((d["at"], d["jobs"], d["wall_p90"], d["queue_p90"]) for d in data["days"]),
           tuple((n, len(v)) for n, v in data["metrics"].items()))
    plots = current_app.extensions["hc_plots"].get(key, True, lambda: _plots(data))
    return {"templates": templates, "template": template, "data": data, "plots": plots}


def _plots(data: dict) -> dict[str, str]:
    days = [d["day"] for d in data["days"]]

    def column(field: str) -> list:
        return [d[field] for d in data["days"]]
    plots = {"wall": charts.daily_series("Wall time per day", "seconds", days, {
                 "median": column("wall_p50"), "p90": column("wall_p90")}),
             "cpu": charts.daily_series("CPU efficiency per day (CPU / wall)", "percent", days,
                                        {"all jobs": column("cpu_efficiency"),
                                         "median job": column("cpu_efficiency_p50"),
                                         "p90 job": column("cpu_efficiency_p90")},
                                        percent=True),
             "queue": charts.daily_series("Queue time per day (submit to start)", "seconds",
                                          days, {"mean": column("queue"),
                                                 "median": column("queue_p50"),
                                                 "p90": column("queue_p90")})}
    for name, values in data["metrics"].items():
        by_day = {v["day"]: v for v in values}
        unit = "seconds" if name.startswith("phase:") else name
        plots[f"metric:{name}"] = charts.daily_series(
            f"{name} per day (mean, median and p90)", unit, days,
            {label: [by_day[d][key] if d in by_day else None for d in days]
             for label, key in (("mean", "mean"), ("median", "p50"), ("p90", "p90"))})
    return plots


@blueprint.get("/sites/<name>/evolution.csv")
def evolution_csv(name: str):
    site = Site.get_or_none(Site.name == name)
    template = Template.get_or_none(Template.name == request.args.get("template", ""))
    if site is None or template is None:
        abort(404)
    days = request.args.get("days", 50, type=int)
    data = site_evolution.evolution(site, template, days)  # BadInput: a 400
    out = io.StringIO()
    writer = csv.writer(out)
    metrics = sorted(data["metrics"])
    columns = [(m, key) for key in ("mean", "p50", "p90") for m in metrics]
    writer.writerow(["day", *[field for field, _ in FIGURES],
                     *[f"{m} {key}" for m, key in columns]])
    by_day = {m: {v["day"]: v for v in data["metrics"][m]} for m in metrics}
    for day in data["days"]:
        writer.writerow([day["day"], *[day[field] for field, _ in FIGURES],
                         *[by_day[m].get(day["day"], {}).get(key) for m, key in columns]])
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename={name}-{template.name}-evolution.csv"})
