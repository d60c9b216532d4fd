"""Tests for model.stats against hand-derived values, exact binomial sums and seeded simulations.

Simulation tolerances: a coverage or error rate estimated from M independent runs has binomial
standard error SE = sqrt(p (1 - p) / M) at the true rate p; we allow 3 SE (a correct implementation
fails such a check with probability ~0.1-0.3 %, and seeds make every run reproducible).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.stats import (
    SPRT,
    Verdict,
    clopper_pearson_interval,
    demonstration_sample_size,
    mean_interval,
    project_counts,
    quantile_interval,
    quantile_verdict,
    rate_verdict,
    sequential_decision_confidence,
    wilson_interval,
    zero_failure_sample_size,
)

Z975 = 1.959963984540054  # standard normal 97.5 % point (table value 1.96)


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(Binomial(n, p) <= k) by direct summation: independent of scipy."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(0, k + 1))


def three_se(p: float, runs: int) -> float:
    return 3 * math.sqrt(p * (1 - p) / runs)


# --------------------------------------------------------------------------- Wilson


def wilson_by_quadratic(x: int, n: int, z: float) -> tuple[float, float]:
    # The Wilson bounds solve (x/n - p)^2 = z^2 p (1 - p) / n, i.e. the quadratic
    # (n + z^2) p^2 - (2x + z^2) p + x^2/n = 0.
    a, b, c = n + z * z, -(2 * x + z * z), x * x / n
    disc = math.sqrt(b * b - 4 * a * c)
    return (-b - disc) / (2 * a), (-b + disc) / (2 * a)


def test_wilson_zero_of_ten_closed_form():
    # With x = 0 the quadratic's roots are 0 and z^2/(n + z^2) = 3.8415/13.8415 = 0.27753.
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0
    assert hi == pytest.approx(Z975**2 / (10 + Z975**2), rel=1e-12)
    assert hi == pytest.approx(0.27753, abs=1e-5)


def test_wilson_five_of_ten_matches_textbook():
    # p = 1/2 is symmetric: 0.5 -+ z/(1+z^2/n) * sqrt(1/(4n) + z^2/(4n^2)) = 0.5 -+ 0.26341.
    lo, hi = wilson_interval(5, 10)
    assert (lo, hi) == pytest.approx(wilson_by_quadratic(5, 10, Z975), rel=1e-12)
    assert (lo, hi) == pytest.approx((0.23659, 0.76341), abs=1e-5)


def test_wilson_high_rate_matches_quadratic():
    lo, hi = wilson_interval(9990, 10000)
    assert (lo, hi) == pytest.approx(wilson_by_quadratic(9990, 10000, Z975), rel=1e-12)
    assert lo < 0.999 < hi


def test_wilson_other_confidence_uses_right_z():
    z90 = 1.6448536269514722  # 95 % point, for a two-sided 90 % interval
    assert wilson_interval(7, 40, 0.90) == pytest.approx(wilson_by_quadratic(7, 40, z90), rel=1e-12)


# --------------------------------------------------------------------------- Clopper-Pearson


@pytest.mark.parametrize("n", [1, 5, 30, 1000])
def test_clopper_pearson_all_or_nothing_closed_form(n):
    # x = 0: upper solves (1-p)^n = alpha/2, so p = 1 - (alpha/2)^(1/n); x = n mirrors it.
    lo, hi = clopper_pearson_interval(0, n, 0.95)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / n), rel=1e-10)
    lo, hi = clopper_pearson_interval(n, n, 0.95)
    assert hi == 1.0 and lo == pytest.approx(0.025 ** (1 / n), rel=1e-10)


def test_clopper_pearson_bounds_put_alpha_half_in_each_binomial_tail():
    # Defining property: P(X >= x | p = lower) = alpha/2 and P(X <= x | p = upper) = alpha/2.
    x, n = 5, 10
    lo, hi = clopper_pearson_interval(x, n, 0.95)
    assert 1 - binom_cdf(x - 1, n, lo) == pytest.approx(0.025, abs=1e-9)
    assert binom_cdf(x, n, hi) == pytest.approx(0.025, abs=1e-9)
    assert (lo, hi) == pytest.approx((0.18709, 0.81291), abs=1e-5)  # textbook 5/10


# --------------------------------------------------------------------------- sample sizes


@pytest.mark.parametrize(
    "r, c, expected", [(0.9995, 0.95, 5990), (0.999, 0.95, 2995), (0.99, 0.90, 230)]
)
def test_zero_failure_sample_size(r, c, expected):
    # ln(0.05)/ln(0.9995) = 5989.97; ln(0.05)/ln(0.999) = 2994.2; ln(0.1)/ln(0.99) = 229.1.
    n = zero_failure_sample_size(r, c)
    assert n == expected
    assert r**n <= 1 - c < r ** (n - 1)


@pytest.mark.parametrize("r", [0.5, 0.9, 0.99, 0.999, 0.9995, 0.99999])
@pytest.mark.parametrize("c", [0.5, 0.8, 0.9, 0.95, 0.99])
def test_demonstration_with_zero_failures_is_zero_failure_size(r, c):
    assert demonstration_sample_size(r, c, 0) == zero_failure_sample_size(r, c)


def test_demonstration_one_failure_textbook():
    # R = C = 0.9, c = 1: 0.9^38 + 38*0.1*0.9^37 = 0.0953 <= 0.1 but n = 37 gives 0.1036.
    assert demonstration_sample_size(0.9, 0.9, 1) == 38


@pytest.mark.parametrize(
    "r, c, f", [(0.95, 0.9, 2), (0.99, 0.95, 1), (0.99, 0.95, 5), (0.999, 0.8, 3)]
)
def test_demonstration_is_smallest_n_by_binomial_sum(r, c, f):
    n = demonstration_sample_size(r, c, f)
    assert binom_cdf(f, n, 1 - r) <= 1 - c < binom_cdf(f, n - 1, 1 - r)


@pytest.mark.parametrize("r, c, f", [(0.999, 0.95, 0), (0.999, 0.95, 2), (0.99, 0.9, 4)])
def test_demonstration_size_passes_clopper_pearson_verdict(r, c, f):
    # n trials with f failures demonstrate R exactly when the one-sided CP lower bound is >= R.
    n = demonstration_sample_size(r, c, f)
    assert rate_verdict(n - f, n, r, c).status == "PASS"
    assert rate_verdict(n - 1 - f, n - 1, r, c).status != "PASS"


# --------------------------------------------------------------------------- quantiles


def equal_tail_ranks(n: int, q: float, tail: float) -> tuple[int | None, int | None]:
    # 1-based ranks: l largest with P(B <= l-1) <= tail, u smallest with P(B >= u) <= tail,
    # B ~ Binomial(n, q) counting observations at or below the true quantile.
    lows = [l for l in range(1, n + 1) if binom_cdf(l - 1, n, q) <= tail]
    ups = [u for u in range(1, n + 1) if 1 - binom_cdf(u - 1, n, q) <= tail]
    return (max(lows) if lows else None), (min(ups) if ups else None)


def test_median_interval_textbook_n20():
    # Binomial(20, 1/2): P(B <= 5) = 0.0207 <= 0.025 < P(B <= 6) = 0.0577, so the 95 % interval
    # for the median is (X_(6), X_(15)) with coverage 1 - 2*0.0207 = 0.9586.
    est, lo, hi = quantile_interval(np.arange(1.0, 21.0), 0.5, 0.95)
    assert (est, lo, hi) == (10.0, 6.0, 15.0)


def test_quantile_interval_matches_hand_ranks():
    n, q = 60, 0.9
    l, u = equal_tail_ranks(n, q, 0.05)
    assert quantile_interval(np.arange(1.0, n + 1.0), q, 0.90)[1:] == (float(l), float(u))


def test_p999_from_100_samples_has_no_upper_bound():
    # P(B >= 100) = 0.999^100 = 0.905 > alpha/2, so no rank bounds p99.9 from above. The missing
    # side spends nothing, so the lower side uses alpha = 0.05: P(B <= 98) = 1 - 0.9048 - 0.0906
    # = 0.0046 <= 0.05 < P(B <= 99) = 0.0952, giving X_(99).
    est, lo, hi = quantile_interval(np.arange(1.0, 101.0), 0.999, 0.95)
    assert est == 100.0 and lo == 99.0 and math.isnan(hi)


def test_unbounded_side_gives_its_alpha_to_the_other():
    # p99 from 100 at 90 %: P(B >= 100) = 0.99^100 = 0.366 > 0.05, so no upper bound. With
    # P(B=99) = 0.3697 and P(B=98) = 0.1849, P(B <= 97) = 0.0794: that is <= alpha = 0.10 (rank 98)
    # but not <= alpha/2 = 0.05 (which would give rank 97).
    est, lo, hi = quantile_interval(np.arange(1.0, 101.0), 0.99, 0.90)
    assert lo == 98.0 and math.isnan(hi)
    assert binom_cdf(97, 100, 0.99) == pytest.approx(0.0794, abs=1e-4)


def test_quantile_interval_with_one_sample_is_unbounded():
    est, lo, hi = quantile_interval([3.0], 0.5)
    assert est == 3.0 and math.isnan(lo) and math.isnan(hi)


def test_quantile_interval_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        quantile_interval([1.0, float("nan"), 2.0], 0.5)


@pytest.mark.parametrize(
    "n, q, confidence",
    [(60, 0.9, 0.90), (100, 0.99, 0.90)],  # second case has no upper bound: tests the reallocation
)
def test_quantile_interval_coverage_by_simulation(n, q, confidence):
    # Exponential(1): x_q = -ln(1 - q). For continuous data coverage equals exactly
    # P(l <= B <= u-1), computed here from the ranks; the simulated rate must agree within 3 SE
    # and that exact coverage must itself reach the nominal level.
    runs = 2000
    rng = np.random.default_rng(20240601)
    x_q = -math.log1p(-q)
    data = rng.exponential(1.0, size=(runs, n))
    hits = 0
    for row in data:
        _, lo, hi = quantile_interval(row, q, confidence)
        hits += (np.isnan(lo) or lo <= x_q) and (np.isnan(hi) or x_q <= hi)
    _, lo, hi = quantile_interval(np.arange(1.0, n + 1.0), q, confidence)  # values are the ranks
    below = binom_cdf(int(lo) - 1, n, q) if not math.isnan(lo) else 0.0
    above = 1 - binom_cdf(int(hi) - 1, n, q) if not math.isnan(hi) else 0.0
    exact = 1 - below - above
    assert exact >= confidence
    assert abs(hits / runs - exact) <= three_se(exact, runs)


# --------------------------------------------------------------------------- means


def test_mean_interval_textbook():
    # 1..5: mean 3, s^2 = 2.5, t(0.975, 4) = 2.776445 (table), half-width 2.776445*sqrt(0.5).
    mean, lo, hi = mean_interval([1, 2, 3, 4, 5])
    half = 2.7764451051977987 * math.sqrt(0.5)
    assert (mean, lo, hi) == pytest.approx((3.0, 3 - half, 3 + half), rel=1e-12)


def test_mean_interval_single_value_has_nan_bounds():
    mean, lo, hi = mean_interval([4.2])
    assert mean == 4.2 and math.isnan(lo) and math.isnan(hi)


def test_mean_interval_coverage_normal():
    runs, confidence = 2000, 0.95
    rng = np.random.default_rng(7)
    intervals = [mean_interval(row, confidence) for row in rng.normal(1.0, 2.0, (runs, 8))]
    hits = sum(lo <= 1.0 <= hi for _, lo, hi in intervals)
    assert abs(hits / runs - confidence) <= three_se(confidence, runs)


# --------------------------------------------------------------------------- rate verdicts


def test_rate_verdict_clear_pass_and_fail():
    v = rate_verdict(10000, 10000, 0.999)  # lower = 0.05^(1/10000) = 0.99970
    assert v.status == "PASS" and v.more_streams is None
    assert v.lower == pytest.approx(0.05 ** (1 / 10000), rel=1e-10)
    v = rate_verdict(900, 1000, 0.99)  # 0.90 observed, upper bound ~0.915
    assert v.status == "FAIL" and v.more_streams is None and v.upper < 0.99


def test_rate_verdict_uses_one_sided_bound():
    # 5990/5990 with R = 0.9995: one-sided lower 0.05^(1/5990) = 0.99950 >= R passes, although
    # the two-sided 95 % lower bound 0.025^(1/5990) = 0.99938 would not.
    assert 0.025 ** (1 / 5990) < 0.9995 <= 0.05 ** (1 / 5990)
    assert rate_verdict(5990, 5990, 0.9995, 0.95).status == "PASS"
    assert rate_verdict(5989, 5989, 0.9995, 0.95).status == "INCONCLUSIVE"


def test_inconclusive_zero_failures_uses_zero_failure_size():
    v = rate_verdict(1000, 1000, 0.9995)
    assert v.status == "INCONCLUSIVE"
    assert v.more_streams == 5990 - 1000


def test_project_counts_rounds_half_up_and_keeps_failures():
    # 2 failures in 1000 -> 2.002 at 1001 (2), 2.5 at 1250 (3), 4 at 2000.
    assert project_counts(998, 1000, 1001) == 999
    assert project_counts(998, 1000, 1250) == 1247
    assert project_counts(998, 1000, 2000) == 1996
    assert project_counts(2, 1000, 1250, higher_is_better=False) == 3


@pytest.mark.parametrize(
    "s, n, target, hib, method, aim",
    [
        (998, 1000, 0.999, True, "clopper-pearson", "FAIL"),  # 0.998 < target: can only fail
        (998, 1000, 0.999, True, "wilson", "FAIL"),
        (90, 100, 0.85, True, "clopper-pearson", "PASS"),  # 0.90 > target: will pass
        (90, 100, 0.85, True, "wilson", "PASS"),
        (3, 500, 0.01, False, "clopper-pearson", "PASS"),  # failure rate 0.006 < 0.01 limit
        (8, 500, 0.01, False, "wilson", "FAIL"),  # 0.016 > 0.01
    ],
)
def test_more_streams_decides_when_applied(s, n, target, hib, method, aim):
    v = rate_verdict(s, n, target, higher_is_better=hib, method=method)
    assert v.status == "INCONCLUSIVE" and v.more_streams is not None and v.more_streams > 0
    m = v.more_streams
    after = rate_verdict(
        project_counts(s, n, n + m, hib), n + m, target, higher_is_better=hib, method=method
    )
    before = rate_verdict(
        project_counts(s, n, n + m - 1, hib), n + m - 1, target, higher_is_better=hib, method=method
    )
    assert after.status == aim
    assert before.status == "INCONCLUSIVE"


def test_rate_exactly_on_target_is_undecidable():
    v = rate_verdict(999, 1000, 0.999)
    assert v.status == "INCONCLUSIVE" and v.more_streams is None


@pytest.mark.parametrize(
    "s, n, target", [(3, 500, 0.01), (8, 500, 0.01), (0, 200, 0.02), (40, 100, 0.2)]
)
def test_lower_is_better_mirrors_higher_is_better(s, n, target):
    low = rate_verdict(s, n, target, higher_is_better=False)
    high = rate_verdict(n - s, n, 1 - target, higher_is_better=True)
    assert low.status == high.status
    assert low.more_streams == high.more_streams
    assert (low.lower, low.upper) == pytest.approx((1 - high.upper, 1 - high.lower), abs=1e-12)


# --------------------------------------------------------------------------- quantile verdicts


def one_sided_ranks(n: int, q: float, tail: float) -> tuple[int, int]:
    # Each one-sided bound at level 1 - tail uses the same rank rule with the whole tail.
    return equal_tail_ranks(n, q, tail)


def test_quantile_verdict_logic_on_ranks():
    # Sample 1..200 so each value is its own rank; one-sided 95 % ranks for the median.
    n, q = 200, 0.5
    sample = np.arange(1.0, n + 1.0)
    lo, hi = one_sided_ranks(n, q, 0.05)
    assert lo < 100 < hi
    assert quantile_verdict(sample, q, hi + 0.5).status == "PASS"
    assert quantile_verdict(sample, q, hi).status == "INCONCLUSIVE"  # must be strictly below
    assert quantile_verdict(sample, q, lo).status == "FAIL"  # lower >= target
    v = quantile_verdict(sample, q, lo + 0.5)
    assert v.status == "INCONCLUSIVE" and v.more_streams is None
    assert (v.lower, v.upper, v.estimate) == (float(lo), float(hi), 100.0)


def test_quantile_verdict_bounds_equal_interval_at_2c_minus_1():
    rng = np.random.default_rng(3)
    sample = rng.lognormal(0.0, 1.0, 500)
    v = quantile_verdict(sample, 0.95, 10.0, confidence=0.95)
    _, lo, hi = quantile_interval(sample, 0.95, confidence=0.90)
    assert (v.lower, v.upper) == (lo, hi)


def test_quantile_verdict_cannot_pass_without_upper_bound():
    # 0.99^50 = 0.605 > 0.05: no order statistic bounds p99 from above with 50 samples.
    sample = np.arange(1.0, 51.0)
    v = quantile_verdict(sample, 0.99, 1e12)
    assert v.status == "INCONCLUSIVE" and math.isnan(v.upper)
    # The lower bound exists (P(B <= 47) = 0.0138 <= 0.05 < P(B <= 48) = 0.0894 -> X_(48)).
    assert v.lower == 48.0
    assert quantile_verdict(sample, 0.99, 48.0).status == "FAIL"


def test_quantile_verdict_realistic_pass_fail():
    # Exponential(1): p99 = 4.605. With 20000 draws the bounds are within ~0.2 of it.
    sample = np.random.default_rng(11).exponential(1.0, 20000)
    assert quantile_verdict(sample, 0.99, 5.0).status == "PASS"
    assert quantile_verdict(sample, 0.99, 4.2).status == "FAIL"


# --------------------------------------------------------------------------- SPRT


def test_sprt_thresholds_and_llr_by_hand():
    t = SPRT(0.01, 0.05)
    assert pytest.approx(19.0) == t.A and pytest.approx(1 / 19) == t.B
    # 2 failures in 2 trials: 2 ln 5 = 3.219 >= ln 19 = 2.944 -> accept H1 at once.
    assert t.log_likelihood_ratio(2, 2) == pytest.approx(2 * math.log(5))
    assert t.update(2, 2) == "accept_h1"
    assert t.update(0, 0) == "continue"
    # Zero failures: t ln(0.95/0.99) <= -ln 19  <=>  t >= ln 19 / ln(0.99/0.95) = 71.39.
    assert t.update(0, 71) == "continue"
    assert t.update(0, 72) == "accept_h0"


def run_sprt(test: SPRT, p: float, runs: int, rng: np.random.Generator, max_trials: int = 5000):
    decisions = []
    for draws in rng.random((runs, max_trials)) < p:
        failures = np.cumsum(draws)
        outcome = "undecided"
        for t in range(1, max_trials + 1):
            outcome = test.update(int(failures[t - 1]), t)
            if outcome != "continue":
                break
        decisions.append(outcome)
    return decisions


def test_sprt_error_rates_within_wald_bounds():
    # Wald: alpha' <= alpha/(1-beta) and beta' <= beta/(1-alpha) (= 0.0526 here), + 3 SE for M runs.
    alpha = beta = 0.05
    test, runs = SPRT(0.05, 0.15, alpha, beta), 1500
    rng = np.random.default_rng(1945)
    under_h0 = run_sprt(test, 0.05, runs, rng, max_trials=600)
    under_h1 = run_sprt(test, 0.15, runs, rng, max_trials=600)
    assert "undecided" not in under_h0 + under_h1
    bound_a, bound_b = alpha / (1 - beta), beta / (1 - alpha)
    assert under_h0.count("accept_h1") / runs <= bound_a + three_se(bound_a, runs)
    assert under_h1.count("accept_h0") / runs <= bound_b + three_se(bound_b, runs)


def test_sprt_validation():
    with pytest.raises(ValueError, match="p1=0.01"):
        SPRT(0.05, 0.01)
    with pytest.raises(ValueError, match="alpha"):
        SPRT(0.01, 0.05, alpha=0.6, beta=0.5)
    with pytest.raises(ValueError, match="failures=3"):
        SPRT(0.01, 0.05).update(3, 2)


# --------------------------------------------------------------------------- sequential looks


def test_sequential_decision_confidence():
    assert sequential_decision_confidence(5, 0.95) == pytest.approx(0.99)
    assert sequential_decision_confidence(1, 0.9) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="looks=0"):
        sequential_decision_confidence(0, 0.95)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: wilson_interval(1, 10, 1.5), r"confidence=1\.5: must be in \(0, 1\)"),
        (lambda: wilson_interval(11, 10), r"successes=11: must be <= n=10"),
        (lambda: clopper_pearson_interval(0, 0), r"n=0: must be an integer >= 1"),
        (lambda: clopper_pearson_interval(-1, 5), r"successes=-1"),
        (lambda: clopper_pearson_interval(1.5, 5), r"successes=1\.5"),
        (lambda: quantile_interval([1.0, 2.0], 1.0), r"q=1\.0: must be in \(0, 1\)"),
        (lambda: quantile_interval([], 0.5), r"sample"),
        (lambda: mean_interval([1.0, math.inf]), r"infinite"),
        (lambda: zero_failure_sample_size(1.0, 0.95), r"reliability=1\.0"),
        (lambda: demonstration_sample_size(0.99, 0.95, -1), r"failures=-1"),
        (lambda: rate_verdict(5, 10, 0.5, method="exact"), r"method='exact'"),
        (lambda: rate_verdict(5, 10, 1.2), r"target=1\.2"),
        (lambda: rate_verdict(5, 10, 0.5, higher_is_better="yes"), r"higher_is_better='yes'"),
        (
            lambda: rate_verdict(5, 10, 0.5, confidence=0.4),
            r"confidence=0\.4: must be in \(0\.5, 1\)",
        ),
        (lambda: quantile_verdict([1.0], 0.5, float("nan")), r"target=nan"),
        (lambda: Verdict("MAYBE", 0, 0, 0, 0, 0.95, None, "x"), r"status='MAYBE'"),
    ],
)
def test_invalid_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------- properties


counts = st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))
levels = st.floats(0.51, 0.999)


@settings(max_examples=150, deadline=None)
@given(counts, levels, levels)
def test_binomial_intervals_contain_estimate_and_nest(xn, c1, c2):
    x, n = xn
    lo_c, hi_c = sorted((c1, c2))
    for interval in (wilson_interval, clopper_pearson_interval):
        narrow, wide = interval(x, n, lo_c), interval(x, n, hi_c)
        assert 0.0 <= wide[0] <= narrow[0] + 1e-12
        assert narrow[0] <= x / n <= narrow[1]
        assert narrow[1] <= wide[1] + 1e-12 and wide[1] <= 1.0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=300), st.floats(0.01, 0.99), levels)
def test_quantile_interval_brackets_estimate(values, q, confidence):
    est, lo, hi = quantile_interval(values, q, confidence)
    assert math.isnan(lo) or lo <= est
    assert math.isnan(hi) or est <= hi


@settings(max_examples=100, deadline=None)
@given(counts, st.floats(0.01, 0.99), st.floats(0.8, 0.99), st.booleans())
def test_rate_verdict_status_agrees_with_bounds(xn, target, confidence, hib):
    x, n = xn
    v = rate_verdict(x, n, target, confidence, higher_is_better=hib)
    passed = v.lower >= target if hib else v.upper <= target
    failed = v.upper < target if hib else v.lower > target
    assert v.status == ("PASS" if passed else "FAIL" if failed else "INCONCLUSIVE")
    assert (v.more_streams is None) or v.status == "INCONCLUSIVE"
