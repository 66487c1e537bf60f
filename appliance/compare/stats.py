"""The statistics of a comparison, from two samples to one verdict (numpy and scipy).

A is the reference (the baseline, the earlier period, the other sites), B the
candidate: every difference is B - A, and "worse" means B is worse than A.

- Distributions: Mann-Whitney U (two-sided), whose U also says which side tends to
  be larger; the difference of medians with a percentile-bootstrap interval.
- Efficiency (completed / (completed + failed)): Fisher's exact test on the 2 x 2
  table; the difference of proportions with Newcombe's interval (from Wilson's).
- All the p-values of one comparison are corrected together (Holm).

The bootstrap is bounded: RESAMPLES resamples per side, from a generator seeded by
the caller (the same comparison gives the same interval). For more than
EXPLICIT_LIMIT values a resample's median is drawn from its exact distribution
instead of by drawing n values: the median of n draws with replacement from the
sorted sample is its k-th value exactly when fewer than m draws fall below it and
at least m at or below (m = the middle position), which is a binomial probability.
This is the same bootstrap (the same distribution of resampled medians), at a cost
of O(n + resamples) instead of O(n x resamples); for an even n it takes the lower
of the two middle values.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05         # significance after correction
LEVEL = 0.95         # confidence level of the intervals
RESAMPLES = 2000     # bootstrap resamples per side
EXPLICIT_LIMIT = 100  # samples up to this size are resampled value by value
WINDOW = 6           # half-widths of the median's spread evaluated (see bootstrap_medians)
TEST_LIMIT = 5000    # values per side the rank test sees at most (a seeded random subset)
MIN_JOBS = 10        # fewer values on either side: "too few jobs", no verdict
BOX = (5, 25, 50, 75, 95)  # percentiles drawn as a box plot (whiskers at 5 and 95)

BETTER, WORSE, SAME, TOO_FEW = "better", "worse", "no significant difference", "too few jobs"
HIGHER, LOWER = "higher", "lower"  # verdicts of a figure without a direction


@dataclass
class Row:
    """One figure at one site: what both sides show and what the test says."""
    n_a: int
    n_b: int
    summary_a: dict
    summary_b: dict
    difference: float | None = None
    ci: tuple[float, float] | None = None
    p: float | None = None
    larger: str | None = None   # "a" or "b": the side whose values tend to be larger
    test: str = "mann-whitney-u"


def summary(values: np.ndarray) -> dict:
    """Size, median and the box-plot percentiles of a sample."""
    if len(values) == 0:
        return {"n": 0, "median": None, "box": None}
    box = np.percentile(values, BOX)
    return {"n": int(len(values)), "median": _finite(np.median(values)),
            "box": [_finite(v) for v in box]}


def distributions(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> Row:
    """Compare two samples of a figure: the test and the interval when both are large enough."""
    row = Row(len(a), len(b), summary(a), summary(b), test="mann-whitney-u")
    if min(len(a), len(b)) < MIN_JOBS:
        return row
    a, b = np.sort(a), np.sort(b)
    row.difference = _finite(row.summary_b["median"] - row.summary_a["median"])
    differences = bootstrap_medians(b, rng) - bootstrap_medians(a, rng)
    low, high = np.quantile(differences, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    row.ci = (_finite(low), _finite(high))
    if a[0] == a[-1] == b[0] == b[-1]:
        row.p, row.larger = 1.0, None  # all values equal: nothing to tell apart
        return row
    a, b = _bounded(a, rng), _bounded(b, rng)
    result = stats.mannwhitneyu(b, a, alternative="two-sided",
                                method="asymptotic" if max(len(a), len(b)) > 50 else "auto")
    row.p = _finite(result.pvalue)
    half = len(a) * len(b) / 2  # U of B is above this when B's values tend to be larger
    row.larger = "b" if result.statistic > half else "a" if result.statistic < half else None
    return row


def _bounded(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """At most TEST_LIMIT of `values`, chosen at random: the rank test's cost grows as
    n log n, and at that size it already finds a shift of a tenth of a standard
    deviation nearly always, so more values would only find smaller, irrelevant ones."""
    if len(values) <= TEST_LIMIT:
        return values
    # The same subset as rng.choice(values, ...) draws, kept in order: the rank test's
    # stable sort of two sorted runs is then linear (a third of a comparison's time).
    return values[np.sort(rng.choice(len(values), TEST_LIMIT, replace=False))]


def bootstrap_medians(ordered: np.ndarray, rng: np.random.Generator,
                      resamples: int | None = None) -> np.ndarray:
    """`resamples` (RESAMPLES) medians of resamples (with replacement) of the sorted `ordered`."""
    resamples = resamples or RESAMPLES
    n = len(ordered)
    if n <= EXPLICIT_LIMIT:
        draws = rng.integers(0, n, size=(resamples, n))
        return np.median(ordered[draws], axis=1)
    middle = (n + 1) // 2  # 1-based position of the (lower) median
    # P(resampled median <= k-th value) = P(at least `middle` of n draws among the first k).
    # The resampled median's position has a spread of about sqrt(n) / 2: beyond WINDOW
    # times that from the middle the probability is below 1e-30, so only that window is
    # evaluated.
    reach = int(WINDOW * math.sqrt(n)) + 1
    first, last = max(1, middle - reach), min(n, middle + reach)
    positions = np.arange(first, last + 1)
    cdf = stats.binom.sf(middle - 1, n, positions / n)
    chosen = np.searchsorted(cdf, rng.random(resamples), side="left")
    return ordered[positions[np.minimum(chosen, len(positions) - 1)] - 1]


def proportions(completed_a: int, failed_a: int, completed_b: int, failed_b: int) -> Row:
    """Compare two efficiencies: Fisher's exact test and Newcombe's interval of B - A."""
    n_a, n_b = completed_a + failed_a, completed_b + failed_b
    row = Row(n_a, n_b, _proportion(completed_a, n_a), _proportion(completed_b, n_b),
              test="fisher-exact")
    if min(n_a, n_b) < MIN_JOBS:
        return row
    p_a, p_b = completed_a / n_a, completed_b / n_b
    row.difference = p_b - p_a
    low_a, high_a = _wilson(completed_a, n_a)
    low_b, high_b = _wilson(completed_b, n_b)
    row.ci = (row.difference - math.hypot(p_b - low_b, high_a - p_a),
              row.difference + math.hypot(high_b - p_b, p_a - low_a))
    row.p = _finite(stats.fisher_exact([[completed_a, failed_a], [completed_b, failed_b]]).pvalue)
    row.larger = "b" if p_b > p_a else "a" if p_a > p_b else None
    return row


def _proportion(completed: int, n: int) -> dict:
    return {"n": n, "completed": completed, "failed": n - completed,
            "median": completed / n if n else None, "box": None}


def _wilson(successes: int, n: int) -> tuple[float, float]:
    interval = stats.binomtest(successes, n).proportion_ci(LEVEL, method="wilson")
    return float(interval.low), float(interval.high)


def adjust(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (None stays None: a row without a test).

    Holm rather than a false-discovery rate: every row's verdict is read on its own,
    so the chance of any false verdict in the whole table is what is held at ALPHA.
    """
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[i] = running
    return adjusted


def verdict(row: Row, p_adjusted: float | None, direction: str | None) -> str:
    """better / worse (B against A, by the figure's direction: "higher" or "lower" is
    better), higher / lower for a figure without one, or no significant difference."""
    if row.difference is None:
        return TOO_FEW
    if p_adjusted is None or p_adjusted >= ALPHA or row.larger is None:
        return SAME
    moved = HIGHER if row.larger == "b" else LOWER
    if direction is None:
        return moved
    return BETTER if moved == direction else WORSE


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
