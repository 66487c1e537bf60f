"""How a site evolves for one template: per UTC day, from the daily rollups only (so a
year costs three small queries, never a scan of job rows).

Per day: jobs and efficiency; wall time median and p90 (interpolated in the rollups'
fixed histogram); CPU efficiency as the day's CPU seconds over its wall seconds, and
the median and p90 of the jobs' own CPU efficiencies; the mean, median and p90 queue
time (the same histograms); and the mean, min, max, median and p90 of each payload metric
and phase (the median and p90 from the metric's logarithmic histogram).
"""
from __future__ import annotations

import time

from appliance import rollups
from appliance.db import database
from appliance.errors import BadInput
from appliance.limits import MAX_HISTORY_DAYS
from appliance.models import (
    CPU_EFFICIENCY_BUCKETS,
    CPU_EFFICIENCY_EDGES,
    QUEUE_BUCKETS,
    QUEUE_EDGES,
    WALL_BUCKETS,
    DailyRollup,
    RollupMetric,
    RollupMetricBucket,
    Site,
    Template,
)

DAY = 86400
MAX_METRICS = 8  # metric figures drawn at most (the most reported)
_COLUMNS = ("completed", "failed", "wall_count", "wall_sum", "cpu_count", "cpu_sum",
            "queue_count", "queue_sum", "wall_max", *WALL_BUCKETS, *CPU_EFFICIENCY_BUCKETS,
            *QUEUE_BUCKETS)
# Percentiles per day, from the rollups' fixed histograms: (field, buckets, edges, q).
PERCENTILES = (("cpu_efficiency_p50", CPU_EFFICIENCY_BUCKETS, CPU_EFFICIENCY_EDGES, 0.5),
               ("cpu_efficiency_p90", CPU_EFFICIENCY_BUCKETS, CPU_EFFICIENCY_EDGES, 0.9),
               ("queue_p50", QUEUE_BUCKETS, QUEUE_EDGES, 0.5),
               ("queue_p90", QUEUE_BUCKETS, QUEUE_EDGES, 0.9))


def templates_at(site_id: int) -> list[Template]:
    """The templates with rollups at this site, golden first, then by name."""
    ids = DailyRollup.select(DailyRollup.template).where(DailyRollup.site == site_id).distinct()
    return list(Template.select().where(Template.id.in_(ids))
                .order_by(Template.golden.desc(), Template.name))


def evolution(site: Site, template: Template, days: int, end: float | None = None) -> dict:
    """{days: [{day, jobs, efficiency, wall_p50, wall_p90, cpu_efficiency, queue, and
    cpu_efficiency_p50/p90, queue_p50/p90}],
    metrics: {name: [{day, mean, low, high}]}} over `days` days ending with today."""
    if not isinstance(days, int) or not 1 <= days <= MAX_HISTORY_DAYS:
        raise BadInput(f"days must be a whole number from 1 to {MAX_HISTORY_DAYS}")
    last = int(time.time() if end is None else end) // DAY * DAY
    start = last - (days - 1) * DAY
    rows = _rollups(site.id, template.id, start)
    cells = [_day(day, rows.get(day)) for day in range(start, last + DAY, DAY)]
    return {"site": site.name, "template": template.name, "golden": template.golden,
            "days": cells, "metrics": _metrics(site.id, template.id, start)}


def _rollups(site_id: int, template_id: int, start: int) -> dict[int, dict]:
    """{day: summed columns}; a day may have rows of several categories."""
    query = (DailyRollup.select(DailyRollup.day, *[getattr(DailyRollup, c) for c in _COLUMNS])
             .where(DailyRollup.site == site_id, DailyRollup.template == template_id,
                    DailyRollup.day >= start))
    found: dict[int, dict] = {}
    for day, *values in database.execute_sql(*query.sql()).fetchall():
        summed = found.setdefault(int(day), dict.fromkeys(_COLUMNS, 0))
        for column, value in zip(_COLUMNS, values, strict=True):
            if column == "wall_max":
                summed[column] = max(summed[column] or 0, value or 0) or None
            else:
                summed[column] += value or 0
    return found


def _day(day: int, row: dict | None) -> dict:
    label = time.strftime("%Y-%m-%d", time.gmtime(day))
    if row is None:
        return {"day": label, "at": day, "jobs": 0, "efficiency": None, "wall_p50": None,
                "wall_p90": None, "cpu_efficiency": None, "queue": None,
                **{name: None for name, *_ in PERCENTILES}}
    ended = row["completed"] + row["failed"]
    buckets = [row[name] for name in WALL_BUCKETS]
    return {"day": label, "at": day, "jobs": ended,
            "efficiency": row["completed"] / ended if ended else None,
            "wall_p50": rollups.quantile(buckets, 0.5, row["wall_max"]),
            "wall_p90": rollups.quantile(buckets, 0.9, row["wall_max"]),
            "cpu_efficiency": row["cpu_sum"] / row["wall_sum"] if row["wall_sum"] else None,
            "queue": row["queue_sum"] / row["queue_count"] if row["queue_count"] else None,
            **{name: rollups.quantile([row[b] for b in buckets], q, edges=edges)
               for name, buckets, edges, q in PERCENTILES}}


def _metrics(site_id: int, template_id: int, start: int) -> dict[str, list[dict]]:
    query = (RollupMetric.select(RollupMetric.name, RollupMetric.day, RollupMetric.count,
                                 RollupMetric.total, RollupMetric.low, RollupMetric.high)
             .where(RollupMetric.site == site_id, RollupMetric.template == template_id,
                    RollupMetric.day >= start).order_by(RollupMetric.day))
    by_name: dict[str, dict[int, list]] = {}
    for name, day, count, total, low, high in database.execute_sql(*query.sql()).fetchall():
        entry = by_name.setdefault(name, {}).setdefault(int(day), [0, 0.0, low, high])
        entry[0] += count
        entry[1] += total
        entry[2] = min(entry[2], low) if None not in (entry[2], low) else entry[2] or low
        entry[3] = max(entry[3], high) if None not in (entry[3], high) else entry[3] or high
    reported = sorted(by_name, key=lambda n: -sum(e[0] for e in by_name[n].values()))
    shown = sorted(reported[:MAX_METRICS])
    buckets = _metric_buckets(site_id, template_id, start, shown)

    def day_of(name: str, day: int, count: int, total: float, low, high) -> dict:
        p50, p90 = rollups.metric_quantiles(buckets.get((name, day), {}), (0.5, 0.9),
                                            low, high)
        return {"day": time.strftime("%Y-%m-%d", time.gmtime(day)), "at": day,
                "mean": total / count if count else None, "low": low, "high": high,
                "p50": p50, "p90": p90}
    return {name: [day_of(name, day, *entry) for day, entry in sorted(by_name[name].items())]
            for name in shown}


def _metric_buckets(site_id: int, template_id: int, start: int,
                    names: list[str]) -> dict[tuple[str, int], dict[int, int]]:
    """{(metric, day): {bucket: values}} of the metrics shown, summed over categories."""
    if not names:
        return {}
    # Plain rows, added up here: a GROUP BY sorted them all first (a year of 8 metrics is
    # some 30,000 rows read through the (site, template, day) index).
    query = (RollupMetricBucket.select(RollupMetricBucket.name, RollupMetricBucket.day,
                                       RollupMetricBucket.bucket, RollupMetricBucket.count)
             .where(RollupMetricBucket.site == site_id,
                    RollupMetricBucket.template == template_id,
                    RollupMetricBucket.day >= start, RollupMetricBucket.name.in_(names)))
    found: dict[tuple[str, int], dict[int, int]] = {}
    for name, day, bucket, number in database.execute_sql(*query.sql()).fetchall():
        counts = found.setdefault((name, int(day)), {})
        counts[bucket] = counts.get(bucket, 0) + number
    return found
