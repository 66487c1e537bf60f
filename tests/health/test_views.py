"""The JSON-ready views and the robot data, on SQLite and PostgreSQL."""
from __future__ import annotations

import json

import pytest
from worlds import NOW

from appliance.health import live, robot, views

DAY = 86400.0


def test_overview_site_health_and_events(any_world):
    world = any_world
    sites = [world.site(f"S{i}") for i in range(5)]
    fa = world.template("fa", sites)
    for site in sites:
        world.history(site, [fa], "CCC", NOW - 300)
    world.history(sites[0], [fa], "FFF", NOW - 100, spacing=10, exit_code=2)
    live.evaluate_now(NOW)
    overview = views.overview(NOW + 1)
    json.dumps(overview)  # plain data, ready for the API
    by_site = {s["site"]: s for s in overview["sites"]}
    assert by_site["S0"]["status"] == "excluded" and by_site["S0"]["verdict"] == "failing"
    assert by_site["S1"]["verdict"] == "healthy"
    assert overview["last_evaluation"]["excluded"] == 1 and overview["policy_version"] == 1
    health = views.site_health("S0", NOW + 1)
    [event] = health["events"]
    assert event["rule"] == "last-3-failed-in-one-template"
    assert {e["exit_code"] for e in event["evidence"]} == {2}
    assert views.incidents()["incidents"] == []
    with pytest.raises(ValueError, match="no site"):
        views.site_health("nowhere")
    assert views.policy()["version"] == 1 and len(views.policy_versions()["versions"]) == 1


def test_robot_matrix_counts_functional_jobs_per_day(any_world):
    world = any_world
    good, bad = world.site("good"), world.site("bad")
    fa = world.template("fa", [good, bad])
    today = robot.day_start(NOW)
    world.history(good, [fa], "CCCC", today + 3600)
    world.history(bad, [fa], "CF", today + 3600)
    world.history(bad, [fa], "FFFK", today - DAY + 3600)
    matrix = robot.matrix(days=3, end=NOW)
    assert len(matrix["days"]) == 3
    cells = {row["site"]: row["cells"] for row in matrix["sites"]}
    assert [c["total"] for c in cells["bad"]] == [0, 3, 2]
    assert (cells["bad"][2]["efficiency"], cells["bad"][2]["colour"]) == (0.5, "warn")
    assert (cells["bad"][1]["efficiency"], cells["bad"][1]["colour"]) == (0.0, "bad")
    assert (cells["good"][2]["colour"], cells["good"][0]["colour"]) == ("good", "none")
    assert cells["good"][2]["from"] == today and cells["good"][2]["to"] == today + DAY
    overview = robot.site_overview("bad", days=50, end=NOW)
    assert len(overview["days"]) == 50 and overview["total"] == 5
    assert overview["completed"] == 1
    year = robot.matrix(days=365, end=NOW)  # by week: the same jobs, 53 columns
    assert (year["width"], len(year["days"])) == (7, 53)
    weekly = {row["site"]: sum(c["total"] for c in row["cells"]) for row in year["sites"]}
    assert weekly == {name: robot.site_overview(name, 365, end=NOW)["total"]
                      for name in ("good", "bad")}
    assert year["sites"][0]["cells"][-1]["to"] == today + DAY
    with pytest.raises(ValueError, match="1 to 365"):
        robot.matrix(days=366)
