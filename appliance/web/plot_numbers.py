"""The numbers behind each plot of a test page, as CSV: every plot links to its own
(/tests/ID/plots/NAME.csv), made from the same plot data the page draws."""
from __future__ import annotations

import csv
import io
import re
import time

from flask import Blueprint, Response, abort

from appliance.models import Test
from appliance.reports import plotdata, queries
from appliance.states import TEST_FINAL, TestState
from appliance.web.api import TEST

blueprint = Blueprint("plot_numbers", __name__)
Table = tuple[list[str], list[list]]


def data_of(test: Test, final: bool) -> dict:
    """The test page's plot data: stored with the summary when current, else made now."""
    now = time.time()
    return plotdata.stored(test, now, final) or plotdata.compute(test, now)


def tables(data: dict, by_site: dict[str, dict]) -> dict[str, Table]:
    """{plot name (as the page keys its plots): (header, rows)}."""
    counts = queries.state_counts(by_site)
    states = sorted({state for values in counts.values() for state in values})
    over_time = data["over_time"]
    found = {
        "states": (["site", *states], [[site, *[counts[site].get(s, 0) for s in states]]
                                       for site in sorted(counts)]),
        "over_time": (["seconds since the start", *over_time["counts"]],
                      [[moment, *[values[i] for values in over_time["counts"].values()]]
                       for i, moment in enumerate(over_time["seconds"])]),
        "wall": (["wall from (s)", "wall to (s)", "jobs"], [list(b) for b in data["wall"]]),
        "efficiency": (["series", "seconds since the start", "efficiency"],
                       [[name, *point] for name, points in data["efficiency"].items()
                        for point in points]),
    }
    if data.get("breakdown"):
        found["breakdown"] = (["site", "part", "mean seconds"],
                              [[site, part, seconds]
                               for site, parts in data["breakdown"].items()
                               for part, seconds in parts.items()])
    for metric, means in data["metrics"].items():
        found[f"metric:{metric}"] = (["site", f"{metric} mean", "jobs"],
                                     [[site, *value] for site, value in sorted(means.items())])
    return found


def file_name(plot: str) -> str:
    """A plot's name as it appears in its CSV's URL (metric names may hold anything)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", plot)


@blueprint.get(f"{TEST}/plots/<name>.csv")
def plot_csv(test_id: int, name: str):
    test = Test.get_or_none(Test.id == test_id)
    if test is None:
        abort(404)
    final = TestState(test.state) in TEST_FINAL
    found = {file_name(plot): table
             for plot, table in tables(data_of(test, final), queries.site_counts(test_id)).items()}
    if name not in found:
        abort(404)
    header, rows = found[name]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": f"attachment; filename=test-{test_id}-{name}.csv"})
