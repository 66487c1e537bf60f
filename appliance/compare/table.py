"""The rows of a comparison: every figure at every site, tested, corrected together
and judged (numpy and scipy through appliance/compare/stats.py)."""
from __future__ import annotations

import numpy as np

from appliance.compare import figures, stats
from appliance.compare.samples import Sample


def method() -> dict:
    """How the rows were made, shown with them."""
    return {"alpha": stats.ALPHA, "level": stats.LEVEL, "resamples": stats.RESAMPLES,
            "min_jobs": stats.MIN_JOBS, "correction": "holm",
            "rank_test_limit": stats.TEST_LIMIT}


def rows(groups_a: dict[str, Sample], groups_b: dict[str, Sample], declared: dict[str, str],
         seed: int) -> list[dict]:
    """One row per site present on both sides and per figure either side has there."""
    rng = np.random.default_rng(seed)
    chosen = _figures(groups_a, groups_b)
    made = []
    for site in sorted(groups_a):
        a, b = groups_a[site], groups_b[site]
        made.append((site, figures.EFFICIENCY,
                     stats.proportions(a.completed, a.failed, b.completed, b.failed)))
        for figure in chosen:
            if figure in a.values or figure in b.values:
                made.append((site, figure, stats.distributions(
                    _array(a, figure), _array(b, figure), rng)))
    adjusted = stats.adjust([row.p for _, _, row in made])
    return [_as_dict(site, figure, row, p, figures.direction(figure, declared))
            for (site, figure, row), p in zip(made, adjusted, strict=True)]


def _figures(groups_a: dict[str, Sample], groups_b: dict[str, Sample]) -> list[str]:
    """The fixed figures, and the metrics and phases reported most (MAX_METRIC_FIGURES)."""
    reported: dict[str, int] = {}
    for sample in [*groups_a.values(), *groups_b.values()]:
        for figure, values in sample.values.items():
            reported[figure] = reported.get(figure, 0) + len(values)
    fixed = [f for f in figures.FIXED if f in reported]
    extra = sorted((f for f in reported if f not in figures.FIXED),
                   key=lambda f: (-reported[f], f))[:figures.MAX_METRIC_FIGURES]
    return sorted(fixed + extra, key=figures.order)


def _array(sample: Sample, figure: str) -> np.ndarray:
    return sample.values.get(figure, np.empty(0))


def _as_dict(site: str, figure: str, row: stats.Row, p_adjusted, direction) -> dict:
    return {"site": site, "figure": figure, "unit": figures.unit(figure),
            "direction": direction, "test": row.test, "a": row.summary_a, "b": row.summary_b,
            "difference": row.difference, "ci": list(row.ci) if row.ci else None,
            "p": row.p, "p_adjusted": p_adjusted,
            "verdict": stats.verdict(row, p_adjusted, direction)}
