"""Data for the robot page and the site page's history: functional efficiency
per site and day, read from the daily rollups (appliance/rollups.py), never
from job rows, so a year of history costs what a week does.

Efficiency is completed / (completed + failed) of functional jobs by the day
they ended (UTC). Each cell carries the bounds of its day so a page can link
to the jobs behind it (while retention keeps their rows), and a colour class so
every page colours alike.
"""
from __future__ import annotations

import functools
import time

import peewee as pw

from appliance import rollups
from appliance.db import database
from appliance.errors import BadInput
from appliance.limits import MAX_HISTORY_DAYS
from appliance.models import WALL_BUCKETS, DailyRollup, Site
from appliance.states import Category

DAY = 86400.0
MAX_DAYS = MAX_HISTORY_DAYS
DAY_CHOICES = (7, 30, 50, 365)  # what the pages offer
# Colour classes by efficiency: at least GOOD is good, at least WARN is a warning.
GOOD, WARN = 0.9, 0.5
_COUNTED = ("completed", "failed", "killed", "lost")
_SUMMED = (*_COUNTED, "wall_count", "wall_sum")


def colour(efficiency: float | None) -> str:
    if efficiency is None:
        return "none"
    return "good" if efficiency >= GOOD else "warn" if efficiency >= WARN else "bad"


def day_start(moment: float) -> float:
    return moment - moment % DAY


def _counts(start: float, end: float, site_id: int | None = None,
            histogram: bool = False, origin: float | None = None, width: int = 1) -> dict:
    """{(site id, bin index): {column: sum}} of functional rollups of days in
    [start, end), in bins of `width` days counted from `origin` (default `start`),
    summed by the database. Rows are read raw: converting 36,500 of them (a year
    of 100 sites) cost more than the query."""
    origin = start if origin is None else origin
    # Counts only for the matrix: read from the index that holds them (robot index),
    # never the wide rollup rows (half the cost of a year's matrix).
    names = _SUMMED if histogram else _COUNTED
    columns = [getattr(DailyRollup, name) for name in names]
    if histogram:
        columns += [getattr(DailyRollup, name) for name in WALL_BUCKETS]
    # Days and origin are whole days (integers): integer division on both databases.
    index = (DailyRollup.day - int(origin)) / int(width * DAY)
    widest = [pw.fn.MAX(DailyRollup.wall_max)] if histogram else []
    query = (DailyRollup.select(DailyRollup.site, index, *[pw.fn.SUM(c) for c in columns],
                                *widest)
             .where(DailyRollup.category == Category.FUNCTIONAL.value,
                    DailyRollup.day >= start, DailyRollup.day < end)
             .group_by(DailyRollup.site, index))
    if site_id is not None:
        query = query.where(DailyRollup.site == site_id)
    names = [c.name for c in columns] + (["wall_max"] if histogram else [])
    return {(site, int(number)): dict(zip(names, values, strict=True))
            for site, number, *values in database.execute_sql(*query.sql()).fetchall()}


@functools.lru_cache(maxsize=4096)
def _label(moment: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(moment))


def _cell(start: float, index: int, counts: dict | None, walls: bool = False,
          width: int = 1) -> dict:
    """Bin `index` of `width` days from `start`."""
    counts = counts or {}
    completed, failed = int(counts.get("completed") or 0), int(counts.get("failed") or 0)
    killed, lost = int(counts.get("killed") or 0), int(counts.get("lost") or 0)
    total = completed + failed
    efficiency = completed / total if total else None
    cell = {"day": _label(start + index * width * DAY),
            "from": start + index * width * DAY, "to": start + (index + 1) * width * DAY,
            "completed": completed, "failed": failed, "killed": killed, "lost": lost,
            "total": total, "jobs": total + killed + lost,
            "efficiency": efficiency, "colour": colour(efficiency)}
    if walls:
        ended = int(counts.get("wall_count") or 0)
        buckets = [int(counts.get(name) or 0) for name in WALL_BUCKETS]
        cell |= {"wall_mean": (counts.get("wall_sum") or 0) / ended if ended else None,
                 "wall_p50": rollups.quantile(buckets, 0.5, counts.get("wall_max")),
                 "wall_p90": rollups.quantile(buckets, 0.9, counts.get("wall_max"))}
    return cell


WEEKLY_AFTER = 60  # days: a longer matrix shows weeks (100 sites x 365 cells is 4 MB of HTML)


def matrix(days: int = 7, end: float | None = None) -> dict:
    """Sites × days up to the day of `end` (today by default); beyond WEEKLY_AFTER
    days, sites × weeks ending with that day (the oldest week may be shorter)."""
    days = _days(days)
    width = 7 if days > WEEKLY_AFTER else 1
    bins = -(-days // width)
    start = day_start(time.time() if end is None else end) - (bins * width - 1) * DAY
    counts = _counts(start + (bins * width - days) * DAY, start + bins * width * DAY,
                     origin=start, width=width)
    sites = Site.select(Site.id, Site.name, Site.status).order_by(Site.name).tuples()
    empty = [_cell(start, i, None, width=width) for i in range(bins)]  # shared: read only

    def cells(site_id: int) -> list[dict]:
        return [_cell(start, i, found, width=width) if (found := counts.get((site_id, i)))
                else empty[i] for i in range(bins)]
    return {"days": [cell["day"] for cell in empty], "width": width,
            "sites": [{"site": name, "status": status, "cells": cells(site_id)}
                      for site_id, name, status in sites]}


def site_overview(name: str, days: int = MAX_DAYS, end: float | None = None) -> dict:
    """One site's daily functional efficiency, job counts and wall times over up
    to a year."""
    days = _days(days)
    site = Site.get_or_none(Site.name == name)
    if site is None:
        raise BadInput(f"no site named {name!r}")
    start = day_start(time.time() if end is None else end) - (days - 1) * DAY
    counts = _counts(start, start + days * DAY, site.id, histogram=True)
    cells = [_cell(start, i, counts.get((site.id, i)), walls=True) for i in range(days)]
    completed = sum(c["completed"] for c in cells)
    total = sum(c["total"] for c in cells)
    return {"site": name, "days": cells, "completed": completed, "total": total,
            "jobs": sum(c["jobs"] for c in cells),
            "efficiency": completed / total if total else None}


def _days(days: int) -> int:
    if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise BadInput(f"days must be a whole number from 1 to {MAX_DAYS}")
    return days


def recent_efficiency(days: int = 7, end: float | None = None) -> dict[int, dict]:
    """{site id: {completed, failed, efficiency, colour}} of functional jobs over the
    last `days` days (today included): the index's site-health figures."""
    days = _days(days)
    start = day_start(time.time() if end is None else end) - (days - 1) * DAY
    query = (DailyRollup.select(DailyRollup.site, pw.fn.SUM(DailyRollup.completed),
                                pw.fn.SUM(DailyRollup.failed))
             .where(DailyRollup.category == Category.FUNCTIONAL.value,
                    DailyRollup.day >= start).group_by(DailyRollup.site))
    figures = {}
    for site_id, completed, failed in query.tuples():
        total = (completed or 0) + (failed or 0)
        efficiency = completed / total if total else None
        figures[site_id] = {"completed": completed or 0, "failed": failed or 0,
                            "efficiency": efficiency, "colour": colour(efficiency)}
    return figures
