"""One row per case, and the tests behind the rows: intervals, chi-square and Kolmogorov-Smirnov.

Every test is set at the false-alarm rate ALPHA = 0.1 % (package docstring).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

ALPHA = 0.001  # false-alarm rate of every test
CONFIDENCE = 1 - ALPHA


def interval_row(case, expected, estimate, lower, upper, note) -> dict:
    agree = bool(np.isfinite(expected) and lower <= expected <= upper)
    return dict(
        case=case,
        expected=float(expected),
        estimate=float(estimate),
        lower=float(lower),
        upper=float(upper),
        agree=agree,
        note=note,
    )


def failed_row(case, expected, note) -> dict:
    return dict(
        case=case,
        expected=float(expected),
        estimate=math.nan,
        lower=math.nan,
        upper=math.nan,
        agree=False,
        note=note,
    )


def chi_square_row(case, values, probs, first, note, min_expected=5.0) -> dict:
    """Chi-square goodness of fit of integer `values` to `probs` (probs[i] = P(value = first + i);
    the last entry is the tail P(value >= first + len - 1)). Adjacent bins are merged from the left
    until each expects >= `min_expected`. A value outside the support fails the case outright."""
    values = np.asarray(values, dtype=np.int64)
    probs = np.asarray(probs, dtype=float)
    probs = np.append(probs[:-1], max(0.0, 1.0 - probs[:-1].sum()))
    n = len(values)
    below = int((values < first).sum())
    idx = np.minimum(values[values >= first] - first, len(probs) - 1)
    observed = np.bincount(idx, minlength=len(probs)).astype(float)
    expected = probs * n
    bins_o, bins_e, acc_o, acc_e = [], [], 0.0, 0.0
    for o, e in zip(observed, expected):
        acc_o, acc_e = acc_o + o, acc_e + e
        if acc_e >= min_expected:
            bins_o.append(acc_o)
            bins_e.append(acc_e)
            acc_o = acc_e = 0.0
    if (acc_o or acc_e) and bins_e:
        bins_o[-1] += acc_o
        bins_e[-1] += acc_e
    df = len(bins_e) - 1
    top = first + len(probs) - 1  # the tail entry stands for values >= top
    mean_th = float(np.sum((first + np.arange(len(probs))) * probs))
    detail = (
        f"chi-square over {len(bins_e)} bins (expected >= {min_expected:g} each), reject above the "
        f"0.1 % critical value (false alarm 0.1 %, asymptotic); mean of min(value, {top}): sample "
        f"{np.minimum(values, top).mean():.5g}, theory {mean_th:.5g}; n={n}"
    )
    if below or df < 1:
        why = f"{below} value(s) below the support {first}" if below else "too few data for a test"
        return dict(
            case=case,
            expected=float(max(df, 0)),
            estimate=math.inf,
            lower=0.0,
            upper=math.nan,
            agree=False,
            note=f"{note}; {why}; {detail}",
        )
    bo, be = np.array(bins_o), np.array(bins_e)
    stat = float(np.sum((bo - be) ** 2 / be))
    crit = float(sps.chi2.isf(ALPHA, df))
    return dict(
        case=case,
        expected=float(df),
        estimate=stat,
        lower=0.0,
        upper=crit,
        agree=bool(stat <= crit),
        note=f"{note}; {detail}; p={sps.chi2.sf(stat, df):.3g}",
    )


def ks_row(case, sample, cdf, note) -> dict:
    sample = np.asarray(sample, dtype=float)
    n = len(sample)
    res = sps.kstest(sample, cdf, method="exact" if n <= 5000 else "asymp")
    null = sps.kstwo(n)
    crit = float(null.isf(ALPHA))
    return dict(
        case=case,
        expected=float(null.mean()),
        estimate=float(res.statistic),
        lower=0.0,
        upper=crit,
        agree=bool(res.statistic <= crit),
        note=f"{note}; Kolmogorov-Smirnov vs the exact null law of D_n (continuous F), reject "
        f"above its 0.1 % point (false alarm 0.1 %); n={n}, p={res.pvalue:.3g}",
    )


def ratio_interval(num, den):
    """Ratio estimator sum(num)/sum(den) over replications with its delta-method t interval at
    CONFIDENCE."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    n = len(num)
    r = num.sum() / den.sum()
    se = math.sqrt(np.sum((num - r * den) ** 2) / (n - 1) / n) / den.mean()
    half = float(sps.t.isf(ALPHA / 2, n - 1)) * se
    return r, r - half, r + half
