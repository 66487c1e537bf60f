"""Thresholds: `efficiency>=0.95`, `failed==0`, `p95(wall)<=300s`,
`mean(metric:events_per_s)>=50`, optionally per site: `site:NAME:failed==0`.

Parsing is strict and happens before any job is submitted: an unknown quantity,
function or operator is an error naming what is wrong. A threshold whose data
never appears (say a metric no job reported) fails; it never passes silently.
"""
from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass

from appliance.config import parse_duration
from appliance.errors import BadInput

COUNTS = ("total", "completed", "failed", "killed", "lost", "running", "queued")
RATES = ("efficiency", "error_rate")
FUNCTIONS = ("mean", "min", "max", "median", "p50", "p90", "p95", "p99", "sum", "count")
FIELDS = ("wall", "cpu", "queue")  # seconds per job; queue = submit -> start
OPERATORS = {">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
             ">": operator.gt, "<": operator.lt}

_EXPRESSION = re.compile(
    r"^(?:site:(?P<site>[A-Za-z0-9][A-Za-z0-9_.-]*):)?"
    r"(?:(?P<function>[a-z0-9_]+)\((?P<field>[^()]+)\)|(?P<name>[a-z_]+))"
    r"\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>[^\s]+)$")


class ThresholdError(BadInput):
    """A threshold expression cannot be understood."""


@dataclass(frozen=True)
class Threshold:
    text: str
    site: str | None
    function: str | None   # None for counts and rates
    field: str             # a count, a rate, wall/cpu/queue, or metric:NAME
    op: str
    value: float

    @property
    def label(self) -> str:
        return self.text


@dataclass(frozen=True)
class Verdict:
    threshold: Threshold
    actual: float | None
    passed: bool
    detail: str


def parse(text: str) -> Threshold:
    match = _EXPRESSION.match(text.strip())
    if not match:
        raise ThresholdError(f"{text!r}: not a threshold; write e.g. efficiency>=0.95, "
                             "failed==0, p95(wall)<=300s, site:NAME:mean(metric:rate)>=50")
    site, function, field, name, op, raw = match.group("site", "function", "field", "name",
                                                       "op", "value")
    if name is not None:
        if name not in COUNTS + RATES:
            raise ThresholdError(f"{text!r}: unknown quantity {name!r}; known: "
                                 + ", ".join(COUNTS + RATES)
                                 + ", or a function of wall, cpu, queue or metric:NAME")
        return Threshold(text, site, None, name, op, _number(text, raw, rate=name in RATES))
    if function not in FUNCTIONS:
        raise ThresholdError(f"{text!r}: unknown function {function!r}; known: "
                             + ", ".join(FUNCTIONS))
    field = field.strip()
    if field not in FIELDS and not re.match(r"^metric:[A-Za-z0-9_.-]+$", field):
        raise ThresholdError(f"{text!r}: unknown field {field!r}; known: "
                             + ", ".join(FIELDS) + ", metric:NAME")
    seconds = field in FIELDS and function not in ("count",)
    return Threshold(text, site, function, field, op, _number(text, raw, seconds=seconds))


def _number(text: str, raw: str, rate: bool = False, seconds: bool = False) -> float:
    try:
        if rate and raw.endswith("%"):
            return float(raw[:-1]) / 100
        if seconds and raw[-1:].isalpha():
            return parse_duration(raw)
        return float(raw)
    except ValueError:  # float() of a non-number, or parse_duration's BadInput
        raise ThresholdError(f"{text!r}: {raw!r} is not a number") from None


def parse_all(texts: list[str], known_sites: list[str] | None = None) -> list[Threshold]:
    thresholds = [parse(text) for text in texts]
    if known_sites is not None:
        for threshold in thresholds:
            if threshold.site and threshold.site not in known_sites:
                raise ThresholdError(f"{threshold.text!r}: site {threshold.site!r} is not in "
                                     f"the test; its sites: {', '.join(known_sites)}")
    return thresholds


@dataclass
class JobRecord:
    site: str
    state: str
    wall: float | None
    cpu: float | None
    queue: float | None
    metrics: dict


def evaluate(threshold: Threshold, jobs: list[JobRecord]) -> Verdict:
    """Judge one threshold over the jobs (all of them, or its site's)."""
    if threshold.site:
        jobs = [job for job in jobs if job.site == threshold.site]
    actual, problem = _measure(threshold, jobs)
    if actual is None:
        return Verdict(threshold, None, False, problem)
    passed = OPERATORS[threshold.op](actual, threshold.value)
    return Verdict(threshold, actual, passed, f"{_show(actual)} {threshold.op} "
                   f"{_show(threshold.value)}: {'holds' if passed else 'FAILS'}")


def _measure(threshold: Threshold, jobs: list[JobRecord]) -> tuple[float | None, str]:
    states = [job.state for job in jobs]
    if threshold.function is None:
        if threshold.field in COUNTS:
            if threshold.field == "total":
                return float(len(states)), ""
            return float(states.count(threshold.field)), ""
        ended = states.count("completed") + states.count("failed")
        if not ended:
            return None, "no job completed or failed: the rate is undefined"
        rate = states.count("completed") / ended
        return (rate if threshold.field == "efficiency" else 1 - rate), ""
    values = [v for v in (_field(job, threshold.field) for job in jobs) if v is not None]
    if threshold.function == "count":
        return float(len(values)), ""
    if not values:
        return None, f"no job reported {threshold.field}"
    return _aggregate(threshold.function, sorted(values)), ""


def _field(job: JobRecord, field: str) -> float | None:
    if field.startswith("metric:"):
        value = job.metrics.get(field[7:]) if job.metrics else None
        return float(value) if isinstance(value, (int, float)) else None
    return getattr(job, field)


def _aggregate(function: str, values: list[float]) -> float:
    if function == "mean":
        return sum(values) / len(values)
    if function == "sum":
        return sum(values)
    if function == "min":
        return values[0]
    if function == "max":
        return values[-1]
    fraction = 0.5 if function == "median" else int(function[1:]) / 100
    rank = min(len(values), max(1, math.ceil(fraction * len(values))))
    return values[rank - 1]


def _show(number: float) -> str:
    return f"{number:.4g}"
