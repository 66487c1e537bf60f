"""A site's evolution over 365 days: the rollup queries and the page's plots.

    .venv/bin/python bench/site_evolution.py

Fills a temporary SQLite database with a year of daily rollups for one site and
template (5 payload metrics, 20 templates at the site in all, 100 sites), then
prints, in order: the seconds of site_evolution.evolution over 365 days, of its
plots, and of a plain SELECT of the same rollup rows (sqlite3, for comparison).
"""
from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from appliance.db import database, open_database, upgrade  # noqa: E402
from appliance.models import (  # noqa: E402
    WALL_BUCKETS,
    DailyRollup,
    JobTemplate,
    RollupMetric,
    RollupMetricBucket,
    Site,
    Template,
)
from appliance.reports import site_evolution  # noqa: E402

DAY = 86400


def fill(today: int) -> tuple[Site, Template]:
    sites = [Site.create(name=f"SITE{i:03d}", backend="fake") for i in range(100)]
    templates = [Template.create(name=f"t{i}", golden=i == 0, job_template=JobTemplate.create(
        name=f"t{i}", command="true")) for i in range(20)]
    with database.atomic():
        for site in sites[:10]:
            for template in templates:
                rows = [{"day": today - d * DAY, "site": site.id, "template": template.id,
                         "category": "stress", "completed": 90, "failed": 10,
                         "wall_count": 90, "wall_sum": 9000.0, "cpu_count": 90,
                         "cpu_sum": 7000.0, "queue_count": 100, "queue_sum": 2000.0,
                         "wall_max": 300.0, WALL_BUCKETS[3]: 60, WALL_BUCKETS[4]: 30}
                        for d in range(365)]
                DailyRollup.insert_many(rows).execute()
                RollupMetric.insert_many([
                    {"day": today - d * DAY, "site": site.id, "template": template.id,
                     "category": "stress", "name": f"m{k}", "count": 90, "total": 900.0 + d,
                     "low": 1.0, "high": 20.0} for d in range(365) for k in range(5)]).execute()
                # Each metric's 90 values a day spread over 10 buckets of its histogram.
                buckets = [{"day": today - d * DAY, "site": site.id, "template": template.id,
                            "category": "stress", "name": f"m{k}", "bucket": 72 + b,
                            "count": 9} for d in range(365) for k in range(5) for b in range(10)]
                for first in range(0, len(buckets), 5000):
                    RollupMetricBucket.insert_many(buckets[first:first + 5000]).execute()
    return sites[0], templates[0]


def main() -> None:
    path = os.path.join(tempfile.mkdtemp(), "hc.db")
    open_database(f"sqlite:///{path}")
    upgrade()
    today = int(time.time()) // DAY * DAY
    site, template = fill(today)
    from appliance.web.site_evolution import _plots

    started = time.perf_counter()
    data = site_evolution.evolution(site, template, 365)
    queried = time.perf_counter() - started
    started = time.perf_counter()
    _plots(data)
    drawn = time.perf_counter() - started
    started = time.perf_counter()
    with sqlite3.connect(path) as raw:
        raw.execute("SELECT * FROM daily_rollup WHERE site_id = ? AND template_id = ? "
                    "AND day >= ?", (site.id, template.id, today - 364 * DAY)).fetchall()
        raw.execute("SELECT * FROM rollup_metric WHERE site_id = ? AND template_id = ? "
                    "AND day >= ?", (site.id, template.id, today - 364 * DAY)).fetchall()
        raw.execute("SELECT * FROM rollup_metric_bucket WHERE site_id = ? AND template_id = ? "
                    "AND day >= ?", (site.id, template.id, today - 364 * DAY)).fetchall()
    plain = time.perf_counter() - started
    print(f"evolution over 365 days: {queried * 1000:.0f} ms ({len(data['days'])} days, "
          f"{len(data['metrics'])} metrics)")
    print(f"its {4 + len(data['metrics']) - 1} plots: {drawn * 1000:.0f} ms")
    print(f"plain SELECT of the same rollup rows: {plain * 1000:.0f} ms")


if __name__ == "__main__":
    main()
