"""`hc run --baseline`: judge the new test against an earlier one, with the statistics
of the compare page (appliance/compare).

The baseline is a test of the instance the run uses (`--baseline ID` with `--url`),
or a file with a test's export (`hc test export ID`, `GET /api/v1/tests/ID/export`).
Baseline thresholds, given with `--threshold` like the others:

- `[site:NAME:]FUNC(FIELD) not worse than baseline by N%`: the new test's FUNC of FIELD
  (as in the plain thresholds: p95(wall), median(metric:events_per_s), ...) may be at
  most N % worse than the baseline's, "worse" by the field's direction (lower wall is
  better; see appliance/compare/figures.py). `not higher than` / `not lower than` say
  the direction outright.
- `[site:NAME:]FIGURE not significantly worse` (or `lower`, `higher`): at no site (or
  at NAME) does the comparison find FIGURE significantly worse (lower, higher).
  FIGURE is wall, cpu, cpu_efficiency, queue, efficiency, metric:NAME, phase:NAME, or
  `all` (every figure).

With `--baseline` and no baseline threshold, `all not significantly worse` applies.
"""
from __future__ import annotations

import json
import os
import re

from appliance.ci import thresholds as plain
from appliance.ci.results import RunResult, from_dict
from appliance.ci.thresholds import Threshold, ThresholdError, Verdict
from appliance.compare import figures
from appliance.documents import SpecError

DEFAULT = "all not significantly worse"
BASELINE_OP = "baseline"  # the `op` of a baseline threshold
_RELATIVE = re.compile(r"^(?P<measure>.+?)\s+not\s+(?P<way>worse|higher|lower)\s+than\s+"
                       r"baseline\s+by\s+(?P<percent>[0-9.]+)\s*%$")
_SIGNIFICANT = re.compile(r"^(?:site:(?P<site>[A-Za-z0-9][A-Za-z0-9_.-]*):)?(?P<figure>\S+)\s+"
                          r"not\s+significantly\s+(?P<way>worse|higher|lower)$")


def is_baseline(text: str) -> bool:
    return "baseline" in text or "significantly" in text


def parse(text: str) -> Threshold:
    """A baseline threshold; ThresholdError saying how to write one."""
    text = text.strip()
    relative, significant = _RELATIVE.match(text), _SIGNIFICANT.match(text)
    if relative:
        try:
            measure = plain.parse(f"{relative['measure']}>=0")
        except ThresholdError as error:  # its message quotes the made-up expression
            raise ThresholdError(f"{text!r}: " + str(error).split(": ", 1)[-1]) from None
        if measure.function is None or measure.function == "count":
            raise ThresholdError(f"{text!r}: compare a function of a field with the "
                                 "baseline, e.g. p95(wall) not worse than baseline by 10%")
        _direction(text, measure.field, relative["way"])
        return Threshold(text, measure.site, measure.function, measure.field, BASELINE_OP,
                         float(relative["percent"]) / 100)
    if significant:
        figure = significant["figure"]
        if figure != "all" and figure not in figures.FIXED and not figure.startswith(
                (figures.METRIC, figures.PHASE)):
            raise ThresholdError(f"{text!r}: unknown figure {figure!r}; known: all, "
                                 + ", ".join(figures.FIXED) + ", metric:NAME, phase:NAME")
        if figure != "all" and significant["way"] == "worse":
            _direction(text, _field(figure), "worse")
        return Threshold(text, significant["site"], None, figure, BASELINE_OP, 0.0)
    raise ThresholdError(f"{text!r}: not a baseline threshold; write e.g. "
                         "'p95(wall) not worse than baseline by 10%' or "
                         "'metric:events_per_s not significantly lower'")


def _field(figure: str) -> str:
    return figure if figure.startswith(figures.METRIC) or figure in figures.FIXED \
        or figure.startswith(figures.PHASE) else figures.METRIC + figure


def _direction(text: str, field: str, way: str) -> str:
    """The way that is worse for `field`: "higher" or "lower"."""
    if way != "worse":
        return way
    better = figures.direction(field, {})
    if better is None:
        raise ThresholdError(f"{text!r}: nothing says which way {field} is better; write "
                             "'not higher than' or 'not lower than' (or 'significantly lower')")
    return "lower" if better == "higher" else "higher"


def split(texts: list[str]) -> tuple[list[str], list[str]]:
    """(plain thresholds, baseline thresholds) of the --threshold arguments."""
    return [t for t in texts if not is_baseline(t)], [t for t in texts if is_baseline(t)]


def load_file(path: str) -> RunResult:
    """A baseline from a test's export file; SpecError when it is not one."""
    try:
        with open(path) as handle:
            return from_dict(json.load(handle))
    except OSError as error:
        raise SpecError(f"--baseline {path}: {error.strerror}") from None
    except (ValueError, KeyError, TypeError) as error:
        raise SpecError(f"--baseline {path}: not a test export (hc test export ID): "
                        f"{str(error)[:200]}") from None


def is_file(spec: str) -> bool:
    return not spec.isdigit() or os.path.isfile(spec)


def compare(baseline: RunResult, result: RunResult) -> dict:
    """The comparison of the new test (B) with the baseline (A), as the compare page makes it."""
    from appliance.compare import samples, table

    groups_a, groups_b = samples.from_records(baseline.jobs), samples.from_records(result.jobs)
    both = sorted(set(groups_a) & set(groups_b))
    rows = table.rows({s: groups_a[s] for s in both}, {s: groups_b[s] for s in both}, {},
                      seed=baseline.test_id * 1_000_003 + result.test_id)
    return {"baseline": baseline.test_id, "test": result.test_id, "rows": rows,
            "sites_only_in_baseline": sorted(set(groups_a) - set(groups_b)),
            "sites_only_in_test": sorted(set(groups_b) - set(groups_a)), **table.method()}


def evaluate(threshold: Threshold, baseline: RunResult, result: RunResult,
             comparison: dict) -> Verdict:
    if threshold.function is not None:
        return _relative(threshold, baseline, result)
    return _significant(threshold, comparison)


def _relative(threshold: Threshold, baseline: RunResult, result: RunResult) -> Verdict:
    way = _direction(threshold.text, threshold.field, _RELATIVE.match(threshold.text)["way"])
    measure = Threshold(threshold.text, threshold.site, threshold.function, threshold.field,
                        ">=", 0.0)
    old = plain.evaluate(measure, baseline.jobs).actual
    new = plain.evaluate(measure, result.jobs).actual
    if old is None or new is None:
        missing = "the baseline" if old is None else "the test"
        return Verdict(threshold, None, False, f"no value in {missing}")
    limit = old * (1 + threshold.value) if way == "higher" else old * (1 - threshold.value)
    passed = new <= limit if way == "higher" else new >= limit
    change = (new - old) / abs(old) * 100 if old else 0.0
    return Verdict(threshold, new, passed, f"{new:.4g} against baseline {old:.4g} "
                   f"({change:+.1f} %, limit {limit:.4g}): {'holds' if passed else 'FAILS'}")


def _moved(row: dict) -> str | None:
    """"higher" or "lower": which way a significant row moved (None: it did not)."""
    if row["verdict"] in ("higher", "lower"):
        return row["verdict"]
    if row["verdict"] in ("better", "worse") and row["direction"]:
        flip = {"higher": "lower", "lower": "higher"}
        return row["direction"] if row["verdict"] == "better" else flip[row["direction"]]
    return None


def _significant(threshold: Threshold, comparison: dict) -> Verdict:
    way = _SIGNIFICANT.match(threshold.text)["way"]
    rows = [r for r in comparison["rows"]
            if (threshold.field == "all" or r["figure"] == _field(threshold.field))
            and (threshold.site is None or r["site"] == threshold.site)]
    if not rows:
        return Verdict(threshold, None, False, "no site has this figure in both tests")
    hits = [r for r in rows if r["verdict"] == way or _moved(r) == way]
    judged = [r for r in rows if r["verdict"] != "too few jobs"]
    if not judged:
        return Verdict(threshold, None, False, "too few jobs on a side to judge")
    detail = ", ".join(f"{r['site']} {r['figure']} (median {r['a']['median']:.4g} -> "
                       f"{r['b']['median']:.4g})" for r in hits)
    unjudged = len(rows) - len(judged)
    note = f"; {unjudged} rows with too few jobs not judged" if unjudged else ""
    return Verdict(threshold, float(len(hits)), not hits,
                   f"significantly {way}: {detail}{note}" if hits else
                   f"no site significantly {way} ({len(judged)} rows judged{note})")
