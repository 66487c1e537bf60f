"""The statistics of a comparison against known answers: scipy's own values, samples
with a known shift (found at the stated power) and without (false verdicts at about
the stated rate)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from appliance.compare import stats


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture
def few_resamples(monkeypatch):
    """The verdict does not use the bootstrap: fewer resamples keep many-seed runs short."""
    monkeypatch.setattr(stats, "RESAMPLES", 100)


def test_the_p_value_is_scipys_mann_whitney_u():
    rng = _rng(1)
    a, b = rng.normal(0, 1, 80), rng.normal(0.3, 1, 60)
    row = stats.distributions(a, b, _rng(2))
    expected = scipy_stats.mannwhitneyu(b, a, alternative="two-sided", method="asymptotic")
    assert row.p == pytest.approx(expected.pvalue, rel=1e-12)
    assert row.larger == "b" and row.n_a == 80 and row.n_b == 60
    assert row.difference == pytest.approx(np.median(b) - np.median(a))


def test_small_samples_let_scipy_choose_the_method():
    a, b = np.arange(10.0), np.arange(10.0) + 4.5
    row = stats.distributions(a, b, _rng())
    assert row.p == pytest.approx(scipy_stats.mannwhitneyu(b, a, method="auto").pvalue)


def test_efficiency_is_fishers_exact_test_with_newcombes_interval():
    row = stats.proportions(90, 10, 70, 30)
    assert row.p == pytest.approx(scipy_stats.fisher_exact([[90, 10], [70, 30]]).pvalue)
    assert row.difference == pytest.approx(-0.2) and row.larger == "a"
    low, high = row.ci
    # Newcombe's hybrid score interval for 70/100 - 90/100 (Newcombe 1998, method 10).
    assert low == pytest.approx(-0.3065, abs=2e-3) and high == pytest.approx(-0.0903, abs=2e-3)


@pytest.mark.parametrize("n", [60, 1000])  # resampled value by value, and from the exact law
def test_the_bootstrap_interval_is_scipys_percentile_bootstrap(n):
    values = _rng(3).exponential(1.0, n)
    ours = np.quantile(stats.bootstrap_medians(np.sort(values), _rng(4), 10_000),
                       [0.025, 0.975])
    theirs = scipy_stats.bootstrap((values,), np.median, n_resamples=10_000, method="percentile",
                                   random_state=5).confidence_interval
    spread = theirs.high - theirs.low
    assert ours[0] == pytest.approx(theirs.low, abs=0.08 * spread)
    assert ours[1] == pytest.approx(theirs.high, abs=0.08 * spread)


def test_the_interval_is_the_same_for_the_same_seed():
    a, b = _rng(5).normal(0, 1, 500), _rng(6).normal(0, 1, 500)
    assert stats.distributions(a, b, _rng(7)).ci == stats.distributions(a, b, _rng(7)).ci


def test_holm_adjustment():
    assert stats.adjust([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.06, None, 0.06])
    assert stats.adjust([0.5, 0.9]) == [1.0, 1.0]
    assert stats.adjust([]) == []


def test_a_known_shift_is_found_at_the_stated_power(few_resamples):
    # A shift of 0.5 standard deviations with 100 jobs a side: the rank test's power at
    # 5 % is about 0.94; the median interval excludes 0 in most runs too.
    found = 0
    for seed in range(200):
        rng = _rng(seed)
        row = stats.distributions(rng.normal(100, 10, 100), rng.normal(105, 10, 100), rng)
        found += stats.verdict(row, row.p, "lower") == stats.WORSE
    assert found / 200 >= 0.88


def test_without_a_shift_false_verdicts_come_at_about_the_stated_rate(few_resamples):
    false = 0
    runs = 600
    for seed in range(runs):
        rng = _rng(1000 + seed)
        row = stats.distributions(rng.gamma(2, 50, 120), rng.gamma(2, 50, 90), rng)
        false += stats.verdict(row, row.p, "lower") != stats.SAME
    # 5 % expected; three binomial standard deviations either way.
    assert 0.05 - 0.027 <= false / runs <= 0.05 + 0.027


def test_a_corrected_table_of_unchanged_rows_is_wrong_in_at_most_five_percent_of_tables(
        few_resamples):
    wrong_tables = 0
    for seed in range(120):
        rng = _rng(5000 + seed)
        rows = [stats.distributions(rng.normal(0, 1, 40), rng.normal(0, 1, 40), rng)
                for _ in range(10)]
        adjusted = stats.adjust([r.p for r in rows])
        wrong_tables += any(stats.verdict(r, p, "lower") != stats.SAME
                            for r, p in zip(rows, adjusted, strict=True))
    assert wrong_tables / 120 <= 0.05 + 0.06  # Holm holds it at 5 %; 3 standard deviations


def test_too_few_jobs_gives_no_verdict():
    row = stats.distributions(np.arange(9.0), np.arange(100.0), _rng())
    assert row.p is None and row.ci is None
    assert stats.verdict(row, None, "lower") == stats.TOO_FEW
    assert row.summary_a["n"] == 9 and row.summary_a["median"] == 4.0
    assert stats.verdict(stats.proportions(5, 0, 50, 50), None, "higher") == stats.TOO_FEW


def test_verdicts_follow_the_figures_direction():
    rng = _rng(8)
    low, high = rng.normal(10, 1, 200), rng.normal(20, 1, 200)
    row = stats.distributions(low, high, rng)
    assert stats.verdict(row, row.p, "lower") == stats.WORSE
    assert stats.verdict(row, row.p, "higher") == stats.BETTER
    assert stats.verdict(row, row.p, None) == stats.HIGHER


def test_identical_constant_samples_are_no_difference():
    row = stats.distributions(np.full(50, 3.0), np.full(50, 3.0), _rng())
    assert row.p == 1.0 and row.difference == 0.0
    assert stats.verdict(row, 1.0, "lower") == stats.SAME


def test_large_samples_stay_bounded_and_find_a_small_shift():
    rng = _rng(9)
    row = stats.distributions(rng.normal(100, 10, 40_000), rng.normal(101, 10, 40_000), rng)
    assert row.larger == "b" and row.p < 1e-6
    assert row.ci[0] < 1.0 < row.ci[1]
