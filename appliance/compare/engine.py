"""A comparison from two sides: rows per site and figure, corrected together, kept
once both sides are final (appliance/compare/store.py), computed fresh otherwise."""
from __future__ import annotations

import hashlib
import time

from appliance.compare import figures, sides, store
from appliance.compare.sides import OTHERS, Side
from appliance.errors import BadInput

VERSION = 1  # of the computation: a change makes kept comparisons be computed again


def compare(a_spec: str, b_spec: str, site: str | None = None,
            directions: list[str] | None = None, now: float | None = None) -> dict:
    """The comparison of side B against side A (or of `site` against the other sites of
    the test A names). BadInput for an unknown test, template or site, or an empty side."""
    now = time.time() if now is None else now
    declared = figures.parse_directions(directions or [])
    a = sides.parse(a_spec, now)
    if site is not None:
        if a.test_id is None or (b_spec and b_spec.strip() != a.spec):
            raise BadInput("a site is compared with the other sites of one test: give "
                           "a=test:ID and site=NAME")
        b = a
    else:
        b = sides.parse(b_spec, now)
    key = _key(a, b, site, declared)
    kept = store.get(key) if a.final and b.final else None
    if kept is not None:
        return kept | {"cached": True}
    for side in (a, b):
        if not sides.has_job_rows(side):
            raise BadInput(f"the job rows of {side.label} were removed by retention and no "
                           "comparison of it was kept")
    result = _compute(a, b, site, declared, key, now)
    if a.final and b.final:
        store.put(key, result, now)
    return result | {"cached": False}


def _key(a: Side, b: Side, site: str | None, declared: dict) -> str:
    text = f"v{VERSION}|{a.spec}|{b.spec}|{site or ''}|{sorted(declared.items())}"
    return hashlib.sha256(text.encode()).hexdigest()


def _compute(a: Side, b: Side, site: str | None, declared: dict, key: str, now: float) -> dict:
    from appliance.compare import table  # numpy and scipy: only when computing

    started = time.perf_counter()
    groups_a, groups_b, only_a, only_b = _groups(a, b, site)
    rows = table.rows(groups_a, groups_b, declared, seed=int(key[:8], 16))
    return {"a": {"spec": a.spec, "label": OTHERS if site else a.label,
                  "jobs": _jobs(groups_a)},
            "b": {"spec": b.spec, "label": f"{site} in {a.label}" if site else b.label,
                  "jobs": _jobs(groups_b)},
            "site": site, "rows": rows, "sites_only_in_a": only_a, "sites_only_in_b": only_b,
            "computed_at": now, "seconds": round(time.perf_counter() - started, 3),
            **table.method()}


def _groups(a: Side, b: Side, site: str | None) -> tuple[dict, dict, list[str], list[str]]:
    """{site: Sample} of each side (the sites on both), and the sites on one side only."""
    from appliance.compare import samplestore as loading
    from appliance.compare.samples import pooled

    names = sides.site_names()
    if site is not None:
        site_id = sides.site_of_test(a, site)
        samples = loading.load(a)
        others = pooled([s for i, s in samples.items() if i != site_id])
        groups_a = {site: others} if others.completed + others.failed else {}
        groups_b = {site: samples[site_id]} if site_id in samples else {}
        if not groups_a or not groups_b:
            raise BadInput(f"{a.label} has no finished jobs at {site if not groups_b else OTHERS}")
        return groups_a, groups_b, [], []
    by_a = {names[i]: s for i, s in loading.load(a).items()}
    by_b = {names[i]: s for i, s in loading.load(b).items()}
    for side, groups in ((a, by_a), (b, by_b)):
        if not groups:
            raise BadInput(f"{side.label} has no finished jobs (completed or failed)")
    both = sorted(set(by_a) & set(by_b))
    if not both:
        raise BadInput(f"no site ran finished jobs on both sides ({a.label}: "
                       f"{', '.join(sorted(by_a))}; {b.label}: {', '.join(sorted(by_b))})")
    return ({n: by_a[n] for n in both}, {n: by_b[n] for n in both},
            sorted(set(by_a) - set(by_b)), sorted(set(by_b) - set(by_a)))


def _jobs(groups: dict) -> int:
    return sum(s.completed + s.failed for s in groups.values())
