"""Estimators for importance-sampled runs: every session carries a weight (its likelihood ratio,
`model.importance`), and sessions, not streams or disconnects, are the independent units.

A rate is a ratio of per-session sums: R = E[w a] / E[w b], with a the adverse events of a session
(failed streams, unrecovered disconnects, ...) and b its trials. Estimated by the ratio of the
sample means; when E[b] is known exactly (completion: b = streams per session) the denominator is
that constant and the estimator is the unnormalised importance-sampling mean, which uses the known
E[w] = 1. The interval is the central-limit one (delta method for a ratio), valid for weighted
samples whatever the correlation within a session:

    se = sqrt( sum_s (w_s (a_s - R b_s))^2 / (n (n - 1)) ) / mean(w b)

Beside every estimate: the Kish effective sample size (sum w)^2 / sum w^2 of the sessions, the
effective number of adverse events (sum w a)^2 / sum (w a)^2 (the effective sample size of the
terms the estimate rests on) and the relative error se / R. The interval is not trusted
(`degenerate` says why) when fewer than `MIN_EFFECTIVE` effective terms carry its numerator
(adverse events) or, for a ratio, its denominator (trials): a sum dominated by a few large
weights is where the tilt has missed part of the scenario, and a central-limit interval would
look precise and be wrong. The Kish size of all the weights, and their mean (known to be 1), are
shown but do not gate: for a rare event the sessions without it have widely spread weights and
contribute nothing. On the Poisson-tail validation case the Kish size is 14 of 2,000 sessions
and the weights' mean is often several standard errors below 1, while the estimate's relative
error is 5 % and its interval covers as it should.

Quantiles: x_q < t exactly when P(X >= t) <= 1 - q, so a quantile target is judged through the
weighted exceedance rate; the bounds on x_q invert the exceedance bounds over the sample values.
References: Asmussen & Glynn (2007), Stochastic Simulation, ch. V-VI; Owen (2013), Monte Carlo
theory, methods and examples, ch. 9 (effective sample sizes and diagnostics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

MIN_EFFECTIVE = 30  # effective adverse events (or trials) below which no interval is trusted


@dataclass(frozen=True)
class WeightedRate:
    """A weighted rate of adverse events with its standard error and diagnostics."""

    estimate: float
    se: float
    sessions: int
    ess: float  # Kish effective sample size of the sessions' weights
    effective_events: float  # (sum w a)^2 / sum (w a)^2: adverse events the estimate rests on
    weight_mean: float
    degenerate: str  # why the interval is not trusted; "" when it is

    @property
    def relative_error(self) -> float:
        return self.se / self.estimate if self.estimate > 0 else math.inf

    def bounds(self, confidence: float, one_sided: bool = False) -> tuple[float, float]:
        """(lower, upper): two-sided at `confidence`, or each one-sided at it; within [0, 1]."""
        z = stats.norm.isf(1 - confidence if one_sided else (1 - confidence) / 2)
        return max(0.0, self.estimate - z * self.se), min(1.0, self.estimate + z * self.se)

    def sessions_needed(self, target: float, confidence: float) -> int | None:
        """Sessions at which the one-sided bound would clear `target` if the estimate and the
        per-session spread hold (the standard error falls as 1/sqrt(n)); None if it never would."""
        gap = abs(self.estimate - target)
        if gap == 0 or not math.isfinite(self.se):
            return None
        z = stats.norm.isf(1 - confidence)
        return max(self.sessions, math.ceil(self.sessions * (z * self.se / gap) ** 2))


def kish_ess(weights) -> float:
    w = np.asarray(weights, dtype=float)
    total = float((w * w).sum())
    return float(w.sum() ** 2 / total) if total > 0 else 0.0


def weighted_rate(adverse, trials, weights, known_trials: float | None = None) -> WeightedRate:
    """The rate E[w a] / E[w b] from per-session adverse counts `adverse`, trial counts `trials`
    and weights; `known_trials`: the exact E[b] (then the unnormalised estimator)."""
    a, b, w = (np.asarray(x, dtype=float) for x in (adverse, trials, weights))
    n = len(w)
    wa = w * a
    denominator = known_trials if known_trials is not None else float((w * b).mean())
    estimate = float(wa.mean()) / denominator if denominator > 0 else math.nan
    resid = wa - estimate * (known_trials if known_trials is not None else w * b)
    if known_trials is not None:
        resid = resid - resid.mean()
    se = math.sqrt(float((resid**2).sum()) / (n * (n - 1))) / denominator if n > 1 else math.inf
    ess, events, mean = kish_ess(w), kish_ess(wa), float(w.mean())
    degenerate = ""
    if events < MIN_EFFECTIVE:
        degenerate = (
            f"tiny effective sample: {events:.3g} effective adverse events (< {MIN_EFFECTIVE})"
        )
        if events > 0:  # they grow with the sessions if further ones fail as these did
            degenerate += f"; about {math.ceil(n * MIN_EFFECTIVE / events):,} sessions would do"
    elif known_trials is None and kish_ess(w * b) < MIN_EFFECTIVE:
        degenerate = f"tiny effective sample: {kish_ess(w * b):.3g} effective trials"
    return WeightedRate(estimate, se, n, ess, events, mean, degenerate)


def exceedance(values, groups, weights, x: float, strict: bool, known: float | None = None):
    """Weighted rate of samples above `x` (> x if strict, else >= x); sample i belongs to session
    `groups[i]` (0 .. len(weights)-1)."""
    values, groups = np.asarray(values, dtype=float), np.asarray(groups)
    above = values > x if strict else values >= x
    n = len(weights)
    adverse = np.bincount(groups, weights=above.astype(float), minlength=n)
    trials = np.bincount(groups, minlength=n)
    return weighted_rate(adverse, trials, weights, known)


@dataclass(frozen=True)
class WeightedQuantile:
    estimate: float
    lower: float  # one-sided lower bound on x_q at the confidence (NaN: none)
    upper: float  # one-sided upper bound (NaN: none, or resting on degenerate weights)
    above_upper: WeightedRate | None  # P(X > upper): what a PASS rests on (None: no upper bound)
    from_lower: WeightedRate | None  # P(X >= lower): what a FAIL rests on (None: no lower bound)


def weighted_quantile(
    values, groups, weights, q: float, confidence: float, known=None
) -> WeightedQuantile:
    """Estimate and one-sided bounds of the q-quantile of weighted samples: the upper bound is
    the smallest sample value x whose exceedance P(X > x) has upper bound <= 1 - q (so F(x) >= q),
    the lower bound the largest x whose P(X >= x) has lower bound > 1 - q (so F(x-) < q); found by
    bisection over the sorted sample values (the exceedance falls as x grows)."""
    xs = np.unique(np.asarray(values, dtype=float))

    def rate(x, strict):
        return exceedance(values, groups, weights, x, strict, known)

    def first(pred) -> float:
        lo, hi = -1, len(xs)  # pred(xs[hi]) assumed true, pred(xs[lo]) false
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if pred(xs[mid]) else (mid, hi)
        return float(xs[hi]) if hi < len(xs) else math.nan

    estimate = first(lambda x: rate(x, True).estimate <= 1 - q)
    upper = first(lambda x: rate(x, True).bounds(confidence, True)[1] <= 1 - q)
    beyond = first(lambda x: rate(x, False).bounds(confidence, True)[0] <= 1 - q)
    i = np.searchsorted(xs, beyond) - 1 if not math.isnan(beyond) else len(xs) - 1
    lower = float(xs[i]) if i >= 0 else math.nan
    above = None if math.isnan(upper) else rate(upper, True)
    below = None if math.isnan(lower) else rate(lower, False)
    # a bound resting on too few effective terms is no bound (NaN: that side unbounded)
    return WeightedQuantile(
        estimate,
        math.nan if below is None or below.degenerate else lower,
        math.nan if above is None or above.degenerate else upper,
        above,
        below,
    )
