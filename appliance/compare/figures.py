"""The figures a comparison looks at, their units and which way is better.

Fixed figures come from the job rows; every number a payload wrote to its metrics
file is a figure too (`metric:NAME`), and a payload's phases (`phase:NAME`, seconds;
see appliance/phases.py) are figures whose lower value is better. A metric's
direction is declared by the caller (`NAME:higher`) or guessed from its name; a
metric with neither gets "higher" / "lower" verdicts instead of better / worse.
"""
from __future__ import annotations

import re

from appliance.errors import BadInput
from appliance.payload import PHASE_PREFIX as PHASE

EFFICIENCY = "efficiency"
# name -> (unit, the better direction, what it is)
FIXED = {
    EFFICIENCY: ("", "higher", "completed / (completed + failed)"),
    "wall": ("s", "lower", "wall time of completed jobs"),
    "cpu": ("s", "lower", "CPU time of completed jobs"),
    "cpu_efficiency": ("", "higher", "CPU / wall time of completed jobs"),
    "queue": ("s", "lower", "submit to start"),
}
METRIC = "metric:"
MAX_METRIC_FIGURES = 20  # metric and phase figures compared at most (the most reported)
DIRECTIONS = ("higher", "lower")

_HIGHER = re.compile(r"(per_?s(ec)?|_hz|rate|throughput|score|speed|events|efficiency|ops)$")
_LOWER = re.compile(r"(seconds|_s|_ms|time|latency|duration|memory|_mb|_bytes|errors?|"
                    r"failures?|retries)$")


def unit(figure: str) -> str:
    if figure in FIXED:
        return FIXED[figure][0]
    return "s" if figure.startswith(PHASE) else ""


def direction(figure: str, declared: dict[str, str]) -> str | None:
    """"higher" or "lower" (the better way), or None when nothing says which."""
    if figure in FIXED:
        return FIXED[figure][1]
    if figure.startswith(PHASE):
        return "lower"
    name = figure.removeprefix(METRIC)
    if name in declared:
        return declared[name]
    lowered = name.lower()
    if _HIGHER.search(lowered):
        return "higher"
    if _LOWER.search(lowered):
        return "lower"
    return None


def parse_directions(texts: list[str]) -> dict[str, str]:
    """['events_per_s:higher', ...] -> {metric: direction}; BadInput for anything else."""
    declared = {}
    for text in texts:
        name, _, way = text.strip().rpartition(":")
        if not name or way not in DIRECTIONS:
            raise BadInput(f"direction {text[:100]!r} must be METRIC:higher or METRIC:lower "
                           "(the way that is better)")
        declared[name.removeprefix(METRIC)] = way
    return declared


def order(figure: str) -> tuple:
    """Fixed figures first in their order, then phases, then metrics, by name."""
    if figure in FIXED:
        return (0, list(FIXED).index(figure), "")
    return (1 if figure.startswith(PHASE) else 2, 0, figure)
