"""Per-test and per-test-site summaries, aggregated in SQL and stored on the rows.

Counts and efficiency come from appliance.reports.counts; wall-time percentiles
are over jobs that ended with a wall time.
"""
from __future__ import annotations

import math
import time

from appliance.db import database
from appliance.models import Test, TestSite
from appliance.reports import plotdata
from appliance.reports.counts import add_efficiency, counts_by_site, empty_counts

PERCENTILES = {"wall_p50": 0.50, "wall_p90": 0.90, "wall_p95": 0.95}


_RANKED = """
SELECT {group}, position, number, wall FROM (
    SELECT {group}, wall_seconds AS wall,
           ROW_NUMBER() OVER ({partition} ORDER BY wall_seconds, id) AS position,
           COUNT(*) OVER ({partition}) AS number
    FROM job WHERE test_id = {param} AND wall_seconds IS NOT NULL) AS ranked
WHERE {wanted}"""


def wall_percentiles_by_site(test_id: int) -> tuple[dict, dict[int, dict]]:
    """Nearest-rank percentiles of wall time: (the test's, {site id: the site's}).

    Two window queries over the test's jobs, however many sites: one sort each,
    not a sort per site and percentile.
    """
    overall = _ranked(test_id, "0", "")
    return overall.get(0, dict.fromkeys(PERCENTILES)), _ranked(test_id, "site_id",
                                                                "PARTITION BY site_id")


def _ranked(test_id: int, group: str, partition: str) -> dict[int, dict]:
    # The row at position ceil(f * n) of n sorted wall times is the f-th percentile.
    wanted = " OR ".join(f"position = CEIL({fraction} * number)"
                         for fraction in PERCENTILES.values())
    sql = _RANKED.format(group=group, partition=partition, param=database.param, wanted=wanted)
    result: dict[int, dict] = {}
    for key, position, number, wall in database.execute_sql(sql, (test_id,)).fetchall():
        values = result.setdefault(key, dict.fromkeys(PERCENTILES))
        for column, fraction in PERCENTILES.items():
            if position == min(number, max(1, math.ceil(fraction * number))):
                values[column] = wall
    return result


def refresh(test_id: int, now: float | None = None, final: bool = False) -> dict:
    """Recompute and store the test's and its sites' summaries; return the test's.

    Counts are cheap and always recomputed. Wall-time percentiles and the plot
    data sort or scan all of a test's jobs (a second for 100,000 of them), so
    they follow only when due (plotdata.PLOT_INTERVAL); `final` (the test is
    ending) forces them.
    """
    now = time.time() if now is None else now
    test = Test.get_by_id(test_id)
    heavy = plotdata.due(test, now, final)
    by_site = counts_by_site(test_id)
    overall, site_walls, plots = {}, {}, {}
    if heavy:
        overall, site_walls = wall_percentiles_by_site(test_id)
        plots = {"plot_data": plotdata.compute(test, now), "plots_at": now}
    total = empty_counts()
    # Read before the transaction: on SQLite a transaction that reads and then writes
    # fails at once ("database is locked") when another process wrote in between.
    test_sites = list(TestSite.select(TestSite.id, TestSite.site).where(TestSite.test == test_id))
    with database.atomic():
        for test_site in test_sites:
            counts = add_efficiency(by_site.get(test_site.site_id, empty_counts()))
            for column in total:
                total[column] += counts[column]
            walls = site_walls.get(test_site.site_id, dict.fromkeys(PERCENTILES)) \
                if heavy else {}
            TestSite.update(summarized_at=now, **counts, **walls).where(
                TestSite.id == test_site.id).execute()
        values = add_efficiency(total) | overall
        Test.update(summarized_at=now, **values, **plots).where(Test.id == test_id).execute()
    return values | {k: getattr(test, k) for k in PERCENTILES if k not in values}
