"""Compare two sides: the /compare page, its CSV, and GET /api/v1/compare.

The work is in appliance/compare (imported when a comparison is asked for: numpy
and scipy stay out of the web's start-up)."""
from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, abort, jsonify, render_template, request

from appliance.compare.options import request_from
from appliance.errors import BadInput

blueprint = Blueprint("compare", __name__)
CSV_COLUMNS = ("site", "figure", "unit", "direction", "test", "n_a", "n_b", "median_a",
               "median_b", "difference", "ci_low", "ci_high", "p", "p_adjusted", "verdict")


def _compare() -> dict:
    from appliance.compare import engine

    asked = request_from(request.args.get("a"), request.args.get("b"),
                         request.args.get("site"), request.args.getlist("direction"))
    return engine.compare(asked.a, asked.b, asked.site, list(asked.directions))


@blueprint.get("/api/v1/compare")
def api_compare():
    try:
        return jsonify(_compare())
    except BadInput as error:
        abort(400, description=str(error))


@blueprint.get("/compare")
def compare_page():
    from appliance.compare import boxes

    result, problem = None, None
    if request.args.get("a") or request.args.get("b"):
        try:
            result = _compare()
        except BadInput as error:
            problem = str(error)
    page = render_template("compare.html", result=result, problem=problem, args=request.args,
                           box=boxes.svg)
    return page, 400 if problem else 200


@blueprint.get("/compare.csv")
def compare_csv():
    try:
        result = _compare()
    except BadInput as error:
        abort(400, description=str(error))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in result["rows"]:
        writer.writerow(_csv_row(row))
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=compare.csv"})


def _csv_row(row: dict) -> list:
    low, high = row["ci"] or (None, None)
    return [row["site"], row["figure"], row["unit"], row["direction"] or "", row["test"],
            row["a"]["n"], row["b"]["n"], row["a"]["median"], row["b"]["median"],
            row["difference"], low, high, row["p"], row["p_adjusted"], row["verdict"]]


@blueprint.get("/rankings")
def rankings_page():
    """A benchmark figure per site, ranked, with the sites whose place is uncertain marked."""
    from appliance.compare import figures, ranking, sides

    result, problem = None, None
    if request.args.get("side"):
        try:
            side = sides.parse(request.args["side"][:300])
            metric = request.args.get("metric", "").strip().removeprefix("metric:")
            if not metric:
                raise BadInput("metric (the benchmark figure a payload reports) is missing")
            declared = figures.parse_directions(request.args.getlist("direction"))
            result = ranking.rank(side, metric, request.args.get("per_core") == "1", declared)
        except BadInput as error:
            problem = str(error)
    page = render_template("rankings.html", result=result, problem=problem, args=request.args)
    return page, 400 if problem else 200
