"""A benchmark campaign's ranking: one payload metric per site (per core when the
payload or the worker record says how many), the median with its 95 % bootstrap
interval, ranked by the metric's direction; a site whose interval overlaps a
neighbour's is marked: its place in the ranking is not certain."""
from __future__ import annotations

import hashlib
import json

import numpy as np

from appliance.compare import figures, stats
from appliance.compare.sides import Side
from appliance.db import database
from appliance.errors import BadInput

MAX_JOBS = 1_000_000
CORES = "cores"  # a metric a payload may report; else the worker record's cores


def rank(side: Side, metric: str, per_core: bool, declared: dict[str, str]) -> dict:
    """{metric, per_core, direction, sites: [{site, n, median, ci, rank, uncertain}]}."""
    values = _values(side, metric, per_core)
    if not values:
        raise BadInput(f"no completed job of {side.label} reported {metric!r}"
                       + (" with a number of cores" if per_core else ""))
    direction = figures.direction(figures.METRIC + metric, declared) or "higher"
    seed = hashlib.sha256(f"{side.spec}|{metric}|{per_core}".encode()).digest()[:8]
    rng = np.random.default_rng(int.from_bytes(seed, "big"))  # the same ranking every time
    rows = []
    for site, numbers in values.items():
        sample = np.sort(np.asarray(numbers, dtype=float))
        row = {"site": site, "n": len(sample), "median": float(np.median(sample)), "ci": None}
        if len(sample) >= stats.MIN_JOBS:
            low, high = np.quantile(stats.bootstrap_medians(sample, rng), [0.025, 0.975])
            row["ci"] = [float(low), float(high)]
        rows.append(row)
    rows.sort(key=lambda r: r["median"], reverse=direction == "higher")
    for place, row in enumerate(rows, start=1):
        row["rank"] = place
        neighbours = rows[max(0, place - 2):place - 1] + rows[place:place + 1]
        row["uncertain"] = row["ci"] is None or any(_overlap(row, other) for other in neighbours)
    return {"metric": metric, "per_core": per_core, "direction": direction, "sites": rows,
            "side": side.label}


def _overlap(one: dict, other: dict) -> bool:
    if one["ci"] is None or other["ci"] is None:
        return True
    return one["ci"][0] <= other["ci"][1] and other["ci"][0] <= one["ci"][1]


def _values(side: Side, metric: str, per_core: bool) -> dict[str, list[float]]:
    param = database.param
    if side.test_id is not None:
        where, args = f"j.test_id = {param}", (side.test_id,)
    else:
        where = (f"j.test_id IN (SELECT id FROM test WHERE template_id = {param}) "
                 f"AND j.ended_at >= {param} AND j.ended_at < {param}")
        args = (side.template_id, side.start, side.end)
    rows = database.execute_sql(
        f"SELECT s.name, j.metrics, j.worker FROM job j JOIN site s ON s.id = j.site_id "
        f"WHERE {where} AND j.state = 'completed' AND j.metrics IS NOT NULL "
        f"LIMIT {MAX_JOBS}", args).fetchall()
    values: dict[str, list[float]] = {}
    for site, metrics, worker in rows:
        numbers = _decoded(metrics)
        value = numbers.get(metric)
        if not _number(value):
            continue
        if per_core:
            cores = numbers.get(CORES) if _number(numbers.get(CORES)) else \
                _decoded(worker).get(CORES)
            if not _number(cores) or cores <= 0:
                continue
            value = value / cores
        values.setdefault(site, []).append(float(value))
    return values


def _decoded(text) -> dict:
    if isinstance(text, dict):
        return text
    try:
        found = json.loads(text) if text else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
