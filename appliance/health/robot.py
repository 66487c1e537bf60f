"""Data for the robot page: functional efficiency per site and day, in SQL.

Efficiency is completed / (completed + failed) of functional jobs by the day
they ended (UTC). Each cell carries the bounds of its day so a page can link
to the jobs behind it, and a colour class so every page colours alike.
"""
from __future__ import annotations

import time

import peewee as pw

from appliance.errors import BadInput
from appliance.models import Job, Site, Test
from appliance.states import Category, JobState

DAY = 86400.0
MAX_DAYS = 50
# Colour classes by efficiency: at least GOOD is good, at least WARN is a warning.
GOOD, WARN = 0.9, 0.5


def colour(efficiency: float | None) -> str:
    if efficiency is None:
        return "none"
    return "good" if efficiency >= GOOD else "warn" if efficiency >= WARN else "bad"


def day_start(moment: float) -> float:
    return moment - moment % DAY


def _counts(start: float, end: float, site_id: int | None = None):
    """{(site id, day index): (completed, failed)} for functional jobs ended in [start, end).

    Grouped by site id and filtered on a list of functional test ids, not joined
    to site and test: the joins cost a lookup per job, a third of the time over
    a million jobs.
    """
    day = pw.fn.FLOOR((Job.ended_at - start) / DAY)
    failed = pw.fn.SUM(pw.Case(None, [(Job.state == JobState.FAILED.value, 1)], 0))
    completed = pw.fn.SUM(pw.Case(None, [(Job.state == JobState.COMPLETED.value, 1)], 0))
    functional = Test.select(Test.id).where(Test.category == Category.FUNCTIONAL.value)
    query = (Job.select(Job.site, day, completed, failed)
             .where(Job.ended_at >= start, Job.ended_at < end, Job.test.in_(functional),
                    Job.state.in_([JobState.COMPLETED.value, JobState.FAILED.value]))
             .group_by(Job.site, day))
    if site_id is not None:
        query = query.where(Job.site == site_id)
    return {(site, int(index)): (int(ok), int(bad)) for site, index, ok, bad in query.tuples()}


def _cell(start: float, index: int, counts: tuple[int, int] | None) -> dict:
    completed, failed = counts or (0, 0)
    total = completed + failed
    efficiency = completed / total if total else None
    return {"day": time.strftime("%Y-%m-%d", time.gmtime(start + index * DAY)),
            "from": start + index * DAY, "to": start + (index + 1) * DAY,
            "completed": completed, "failed": failed, "total": total,
            "efficiency": efficiency, "colour": colour(efficiency)}


def matrix(days: int = 7, end: float | None = None) -> dict:
    """Sites × days up to the day of `end` (today by default)."""
    days = _days(days)
    start = day_start(time.time() if end is None else end) - (days - 1) * DAY
    counts = _counts(start, start + days * DAY)
    sites = Site.select(Site.id, Site.name, Site.status).order_by(Site.name).tuples()
    return {"days": [_cell(start, i, None)["day"] for i in range(days)],
            "sites": [{"site": name, "status": status,
                       "cells": [_cell(start, i, counts.get((site_id, i))) for i in range(days)]}
                      for site_id, name, status in sites]}


def site_overview(name: str, days: int = MAX_DAYS, end: float | None = None) -> dict:
    """One site's daily functional efficiency over up to 50 days."""
    days = _days(days)
    site = Site.get_or_none(Site.name == name)
    if site is None:
        raise BadInput(f"no site named {name!r}")
    start = day_start(time.time() if end is None else end) - (days - 1) * DAY
    counts = _counts(start, start + days * DAY, site.id)
    cells = [_cell(start, i, counts.get((site.id, i))) for i in range(days)]
    completed = sum(c["completed"] for c in cells)
    total = sum(c["total"] for c in cells)
    return {"site": name, "days": cells, "completed": completed, "total": total,
            "efficiency": completed / total if total else None}


def _days(days: int) -> int:
    if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise BadInput(f"days must be a whole number from 1 to {MAX_DAYS}")
    return days
