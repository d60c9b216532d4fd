"""Confidence intervals, demonstration sample sizes and pass/fail verdicts for simulated
reliability.

Everything here is a pure function of counts or samples (no random state). Conventions:

- `confidence` C is the coverage probability of an interval or bound; alpha = 1 - C.
- Two-sided intervals put alpha/2 in each tail.
- Verdicts use *one-sided* bounds, each at level C (see `rate_verdict`).
- Bad input raises `ValueError` naming the argument, the value and what is allowed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from numbers import Integral, Real

import numpy as np
from scipy import special, stats

STATUSES = ("PASS", "FAIL", "INCONCLUSIVE")
RATE_METHODS = ("clopper-pearson", "wilson")
QUANTILE_METHOD = "order-statistic"
MAX_EXTRA_TRIALS = 10**9  # more_streams search gives up (None) beyond this many extra trials
_SEARCH_CAP = (
    2**62
)  # demonstration sizes always exist for R < 1; this only guards against runaway loops


# --------------------------------------------------------------------------- validation


def _real(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(value):
        raise ValueError(f"{name}={value!r}: must be a real number")
    return float(value)


def _in_open(name: str, value, lo: float = 0.0, hi: float = 1.0) -> float:
    v = _real(name, value)
    if not lo < v < hi:
        raise ValueError(f"{name}={value!r}: must be in ({lo:g}, {hi:g})")
    return v


def _count(name: str, value, lo: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name}={value!r}: must be an integer >= {lo}")
    if value < lo:
        raise ValueError(f"{name}={value!r}: must be an integer >= {lo}")
    return int(value)


def _counts(successes, n) -> tuple[int, int]:
    n = _count("n", n, 1)
    successes = _count("successes", successes, 0)
    if successes > n:
        raise ValueError(f"successes={successes!r}: must be <= n={n}")
    return successes, n


def _flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}={value!r}: must be True or False")
    return bool(value)


def _one_sided_confidence(confidence) -> float:
    # Below 0.5 a one-sided "lower bound" would sit above the estimate.
    return _in_open("confidence", confidence, 0.5, 1.0)


def _sample(sample, finite: bool = False) -> np.ndarray:
    try:
        x = np.asarray(sample, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"sample: must be a 1-D array of numbers ({exc})") from None
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"sample with shape {x.shape}: must be a non-empty 1-D array")
    if np.isnan(x).any():
        raise ValueError(
            f"sample contains {int(np.isnan(x).sum())} NaN value(s): NaN is not allowed "
            "(censored observations must be handled before calling)"
        )
    if finite and not np.isfinite(x).all():
        raise ValueError("sample contains infinite value(s): must be finite")
    return x


# --------------------------------------------------------------------------- binomial intervals


def _wilson_bounds(successes: int, n: int, z: float) -> tuple[float, float]:
    """Roots in p of (p_hat - p)^2 = z^2 p (1 - p) / n: the score test's acceptance region."""
    p_hat = successes / n
    z2n = z * z / n
    centre = (p_hat + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p_hat * (1 - p_hat) / n + z2n / (4 * n))
    # At 0 or n the exact root is 0 or 1; pin it so rounding cannot leak outside [0, 1].
    lower = 0.0 if successes == 0 else max(0.0, centre - half)
    upper = 1.0 if successes == n else min(1.0, centre + half)
    return lower, upper


def _cp_bounds(successes: int, n: int, tail: float) -> tuple[float, float]:
    """Beta quantiles with `tail` probability outside each bound (Clopper & Pearson 1934)."""
    lower = 0.0 if successes == 0 else float(stats.beta.ppf(tail, successes, n - successes + 1))
    # isf(tail) rather than ppf(1 - tail): keeps precision when tail is tiny.
    upper = 1.0 if successes == n else float(stats.beta.isf(tail, successes + 1, n - successes))
    return lower, upper


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided Wilson score interval for a binomial proportion.

    With p = successes/n and z = Phi^-1(1 - alpha/2):
        centre = (p + z^2/(2n)) / (1 + z^2/n)
        half   = z / (1 + z^2/n) * sqrt(p(1-p)/n + z^2/(4n^2))
    Source: E. B. Wilson (1927), "Probable inference, the law of succession, and statistical
    inference", JASA 22(158):209-212.
    """
    successes, n = _counts(successes, n)
    confidence = _in_open("confidence", confidence)
    z = float(stats.norm.isf((1 - confidence) / 2))
    return _wilson_bounds(successes, n, z)


def clopper_pearson_interval(
    successes: int, n: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Two-sided exact (Clopper-Pearson) interval for a binomial proportion.

    lower = Beta^-1(alpha/2; x, n-x+1)  (0 when x = 0)
    upper = Beta^-1(1-alpha/2; x+1, n-x)  (1 when x = n)
    Coverage is at least C for every true p. Source: C. J. Clopper & E. S. Pearson (1934),
    Biometrika 26(4):404-413.
    """
    successes, n = _counts(successes, n)
    confidence = _in_open("confidence", confidence)
    return _cp_bounds(successes, n, (1 - confidence) / 2)


def _one_sided_rate_bounds(
    successes: int, n: int, confidence: float, method: str
) -> tuple[float, float]:
    """Lower and upper bounds, each one-sided at `confidence` (= a two-sided 2C-1 interval)."""
    if method == "wilson":
        return _wilson_bounds(successes, n, float(stats.norm.isf(1 - confidence)))
    return _cp_bounds(successes, n, 1 - confidence)


# --------------------------------------------------------------------------- quantiles and means


@lru_cache(maxsize=1024)  # simulations call this repeatedly with the same (n, q, tail)
def _lower_position(n: int, q: float, tail: float) -> int | None:
    """0-based index k of the largest order statistic with P(X_(k+1) > x_q) <= tail, or None.

    With B = #{X_i <= x_q} ~ Binomial(n, q), X_(k+1) <= x_q iff B >= k+1, so the miss probability
    is P(B <= k). For discrete X the true miss probability is smaller (the bound is conservative).
    """

    def cdf(k):
        return stats.binom.cdf(k, n, q)

    k = min(int(stats.binom.ppf(tail, n, q)), n - 1)  # a guess; ppf rounding is fixed up below
    while k + 1 < n and cdf(k + 1) <= tail:
        k += 1
    while k >= 0 and cdf(k) > tail:
        k -= 1
    return k if k >= 0 else None


@lru_cache(maxsize=1024)
def _upper_position(n: int, q: float, tail: float) -> int | None:
    """0-based index k of the smallest order statistic with P(X_(k+1) < x_q) <= tail, or None.

    X_(k+1) < x_q implies B > k, so the miss probability is at most P(B > k).
    """

    def sf(k):
        return stats.binom.sf(k, n, q)

    k = max(int(stats.binom.isf(tail, n, q)), 0)  # a guess; fixed up below (sf(n) = 0 stops it)
    while k > 0 and sf(k - 1) <= tail:
        k -= 1
    while sf(k) > tail:
        k += 1
    return k if k < n else None


def _at(sorted_x: np.ndarray, k: int | None) -> float:
    return math.nan if k is None else float(sorted_x[k])


def quantile_interval(sample, q: float, confidence: float = 0.95) -> tuple[float, float, float]:
    """Distribution-free (estimate, lower, upper) for the q-quantile x_q, from order statistics.

    The number of observations <= x_q is B ~ Binomial(n, q), so for 1-based ranks l < u
        P(X_(l) <= x_q <= X_(u)) >= P(l <= B <= u-1) = F_B(u-1) - F_B(l-1).
    Ranks are equal-tailed: l is the largest rank with F_B(l-1) <= alpha/2 and u the smallest with
    1 - F_B(u-1) <= alpha/2. When n is too small for one side that bound is NaN, meaning unbounded;
    an unbounded side cannot miss, so the other side then uses all of alpha. Both NaN when neither
    side is attainable. Valid for any distribution (conservative when ties are possible).
    Estimate: the order statistic numpy.quantile(..., method="inverted_cdf").
    Source: e.g. H. A. David & H. N. Nagaraja (2003), Order Statistics, 3rd ed., sec. 7.1.
    """
    x = np.sort(_sample(sample))
    return tuple(_at(x, k) for k in quantile_interval_ranks(x.size, q, confidence))


def quantile_interval_ranks(n: int, q: float, confidence: float = 0.95) -> tuple:
    """The 0-based ranks (estimate, lower, upper) of the order statistics `quantile_interval`
    returns for a sample of n (None: unbounded), so that callers holding a sample too large to sort
    (e.g. a dataset on disk) can select just these."""
    n = _count("n", n, 1)
    q = _in_open("q", q)
    alpha = 1 - _in_open("confidence", confidence)
    lo, hi = _lower_position(n, q, alpha / 2), _upper_position(n, q, alpha / 2)
    if hi is None and lo is not None:
        lo = _lower_position(n, q, alpha)
    elif lo is None and hi is not None:
        hi = _upper_position(n, q, alpha)
    return estimate_rank(n, q), lo, hi


def estimate_rank(n: int, q: float) -> int:
    """0-based rank of the q-quantile estimate of n values: numpy.quantile(..., "inverted_cdf"),
    the smallest value whose empirical CDF reaches q."""
    return max(math.ceil(n * q) - 1, 0)


def mean_interval(sample, confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean, lower, upper): Student t interval  mean -+ t_{1-alpha/2, n-1} * s / sqrt(n).

    Exact for normal data, approximate otherwise (CLT). With n < 2 there is no variance estimate,
    so the bounds are NaN. Source: "Student" (1908), Biometrika 6(1):1-25.
    """
    x = _sample(sample, finite=True)
    sd = float(x.std(ddof=1)) if x.size >= 2 else math.nan
    return mean_interval_of(x.size, float(x.mean()), sd, confidence)


def mean_interval_of(n: int, mean: float, sd: float, confidence: float = 0.95) -> tuple:
    """`mean_interval` from the sample's size, mean and standard deviation (ddof=1) alone, e.g.
    accumulated over a dataset too large to hold."""
    n = _count("n", n, 1)
    confidence = _in_open("confidence", confidence)
    if n < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.isf((1 - confidence) / 2, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


# --------------------------------------------------------------------------- sample sizes


def zero_failure_sample_size(reliability: float, confidence: float) -> int:
    """Trials n that, with zero failures, demonstrate reliability R at confidence C.

    n = ceil(ln(1 - C) / ln R): the smallest n with R^n <= 1 - C, i.e. a process with
    reliability R would pass n trials without failure with probability at most 1 - C
    ("success-run" theorem). E.g. R = 0.9995, C = 0.95 -> 5990.
    """
    reliability = _in_open("reliability", reliability)
    confidence = _in_open("confidence", confidence)
    return max(1, math.ceil(math.log1p(-confidence) / math.log(reliability)))


def first_true(pred, lo: int, cap: int, step: int = 1) -> int | None:
    """Smallest boundary hi in (lo, cap] with pred(hi) true and pred(hi - 1) false, or None.

    Assumes pred(lo) is false. Gallops (doubling the step) then bisects, so O(log) evaluations.
    For monotone pred this is the first true value.
    """
    hi = min(lo + step, cap)
    while not pred(hi):
        if hi >= cap:
            return None
        lo, step = hi, 2 * step
        hi = min(lo + step, cap)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if pred(mid) else (mid, hi)
    return hi


def demonstration_sample_size(reliability: float, confidence: float, failures: int) -> int:
    """Smallest n such that at most `failures` = c failures in n trials demonstrates R at
    confidence C.

    Condition: P(Binomial(n, 1-R) <= c) <= 1 - C. By the beta/binomial relation that probability is
    the regularised incomplete beta I_R(n-c, c+1), which is also why the condition is equivalent to
    the one-sided Clopper-Pearson lower bound for n-c successes in n being >= R. It decreases in n,
    so a gallop-and-bisect search finds the smallest n. For c = 0 this is the closed form
    `zero_failure_sample_size` (used directly so the two agree exactly).
    Source: e.g. MIL-HDBK-338B sec. 8; any "success-run / binomial attribute test" table.
    """
    reliability = _in_open("reliability", reliability)
    confidence = _in_open("confidence", confidence)
    c = _count("failures", failures, 0)
    n0 = zero_failure_sample_size(reliability, confidence)
    if c == 0:
        return n0

    def demonstrates(n: int) -> bool:
        return n > c and special.betainc(n - c, c + 1, reliability) <= 1 - confidence

    # Below n0 even zero failures would not demonstrate R, so n0 - 1 is a known "no".
    lo = max(c, n0 - 1)
    found = first_true(demonstrates, lo, _SEARCH_CAP, step=max(1, lo))
    if found is None:  # pragma: no cover - unreachable for R < 1
        raise ValueError(f"failures={c}: no demonstration size below {_SEARCH_CAP}")
    return found


# --------------------------------------------------------------------------- verdicts


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking a reliability target against simulated evidence.

    `lower` and `upper` are the one-sided bounds (each at `confidence`) the decision used;
    NaN means that side is unbounded. `more_streams` is set only for INCONCLUSIVE rate verdicts.
    """

    status: str
    estimate: float
    lower: float
    upper: float
    target: float
    confidence: float
    more_streams: int | None
    method: str

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status={self.status!r}: must be one of {', '.join(STATUSES)}")


def _rate_method(method) -> str:
    if method not in RATE_METHODS:
        raise ValueError(f"method={method!r}: must be one of {', '.join(RATE_METHODS)}")
    return method


def _rate_status(
    successes, n, target, confidence, higher_is_better, method
) -> tuple[str, float, float]:
    lower, upper = _one_sided_rate_bounds(successes, n, confidence, method)
    if higher_is_better:
        status = "PASS" if lower >= target else "FAIL" if upper < target else "INCONCLUSIVE"
    else:
        status = "PASS" if upper <= target else "FAIL" if lower > target else "INCONCLUSIVE"
    return status, lower, upper


def project_counts(successes: int, n: int, total: int, higher_is_better: bool = True) -> int:
    """`successes` projected to `total` trials if the observed rate holds (used by more_streams).

    The adverse events (failures = n - successes when higher is better, else the counted events)
    scale as round(adverse * total / n), halves rounded up, so the projected rate is within
    1/(2 total) of the observed one and, as total >= n, never fewer adverse events than observed.
    """
    successes, n = _counts(successes, n)
    total = _count("total", total, n)
    higher_is_better = _flag("higher_is_better", higher_is_better)
    adverse = n - successes if higher_is_better else successes
    projected = (2 * adverse * total + n) // (2 * n)  # exact integer round-half-up
    return total - projected if higher_is_better else projected


def _more_trials(successes, n, target, confidence, higher_is_better, method) -> int | None:
    def decided(extra: int) -> bool:
        s = project_counts(successes, n, n + extra, higher_is_better)
        return (
            _rate_status(s, n + extra, target, confidence, higher_is_better, method)[0]
            != "INCONCLUSIVE"
        )

    return first_true(decided, 0, MAX_EXTRA_TRIALS)


def rate_verdict(
    successes: int,
    n: int,
    target: float,
    confidence: float = 0.95,
    higher_is_better: bool = True,
    method: str = "clopper-pearson",
) -> Verdict:
    """PASS/FAIL/INCONCLUSIVE for "the rate successes/n must be >= target" (or <= when not
    higher_is_better, e.g. a failure rate with an upper limit).

    Decision rule (higher_is_better): with one-sided bounds L and U, each at level C,
        PASS if L >= target;  FAIL if U < target;  otherwise INCONCLUSIVE
    (mirrored: PASS if U <= target; FAIL if L > target). One-sided bounds are used because each
    claim is one-directional: a PASS is wrong with probability <= 1 - C when the true rate misses
    the target, and likewise for FAIL. Together L and U form a two-sided (2C - 1) interval.
    Bounds: Clopper-Pearson (exact, conservative) or Wilson (score, approximate).

    more_streams (INCONCLUSIVE only): smallest number m of extra trials after which the verdict is
    decided if the observed rate holds, with counts projected by `project_counts`. It aims at PASS
    when the observed rate is on the good side of the target and at FAIL when on the bad side; with
    zero adverse events under Clopper-Pearson it reproduces the zero-failure demonstration size.
    None when no m <= 10**9 decides it, e.g. when the observed rate equals the target exactly (the
    bounds then straddle the target for every n).
    """
    successes, n = _counts(successes, n)
    target = _in_open("target", target)
    confidence = _one_sided_confidence(confidence)
    method = _rate_method(method)
    higher_is_better = _flag("higher_is_better", higher_is_better)
    status, lower, upper = _rate_status(successes, n, target, confidence, higher_is_better, method)
    more = None
    if status == "INCONCLUSIVE":
        more = _more_trials(successes, n, target, confidence, higher_is_better, method)
    return Verdict(status, successes / n, lower, upper, target, confidence, more, method)


def quantile_verdict(sample, q: float, target: float, confidence: float = 0.95) -> Verdict:
    """PASS/FAIL/INCONCLUSIVE for "the q-quantile must be below target" (e.g. p99 recovery < 5 s).

    With one-sided order-statistic bounds L and U, each at level C (see `quantile_interval`):
        PASS if U < target;  FAIL if L >= target;  otherwise INCONCLUSIVE.
    If n is too small for U to exist (q^n > 1 - C) the verdict cannot PASS; likewise without L it
    cannot FAIL. `more_streams` is always None here: the needed n depends on the unknown shape of
    the tail near the target, not only on an observed rate.
    """
    x = np.sort(_sample(sample))
    ranks = quantile_verdict_ranks(x.size, q, confidence)
    return quantile_verdict_of([_at(x, k) for k in ranks], q, target, confidence)


def quantile_verdict_ranks(n: int, q: float, confidence: float = 0.95) -> tuple:
    """The 0-based ranks (estimate, lower, upper) of the order statistics `quantile_verdict`
    judges with, for a sample of n (None: that bound does not exist)."""
    n = _count("n", n, 1)
    q = _in_open("q", q)
    tail = 1 - _one_sided_confidence(confidence)
    return estimate_rank(n, q), _lower_position(n, q, tail), _upper_position(n, q, tail)


def quantile_verdict_of(values, q: float, target: float, confidence: float = 0.95) -> Verdict:
    """`quantile_verdict` from the order statistics at `quantile_verdict_ranks` (NaN for a rank
    that is None), e.g. selected from a dataset too large to sort."""
    estimate, lower, upper = (float(v) for v in values)
    q = _in_open("q", q)
    target = _real("target", target)
    confidence = _one_sided_confidence(confidence)
    if upper < target:  # NaN compares false: no upper bound, no PASS
        status = "PASS"
    elif lower >= target:
        status = "FAIL"
    else:
        status = "INCONCLUSIVE"
    return Verdict(status, estimate, lower, upper, target, confidence, None, QUANTILE_METHOD)


# --------------------------------------------------------------------------- sequential testing


@dataclass(frozen=True)
class SPRT:
    """Wald's sequential probability ratio test for a Bernoulli failure probability p.

    H0: p = p0 (acceptable) against H1: p = p1 (unacceptable), p0 < p1. After f failures in t trials
        LLR = f ln(p1/p0) + (t - f) ln((1-p1)/(1-p0))
    and the test accepts H1 once LLR >= ln A, accepts H0 once LLR <= ln B, with
        A = (1 - beta)/alpha,  B = beta/(1 - alpha).
    Why the error rates are about alpha and beta: when H1 is accepted the likelihood ratio is >= A,
    so P1(accept H1) >= A * P0(accept H1), i.e. alpha' <= (1 - beta')/A; likewise
    beta' <= B(1 - alpha'). Hence alpha' <= alpha/(1 - beta), beta' <= beta/(1 - alpha) and
    alpha' + beta' <= alpha + beta. They are approximations only because the LLR jumps past the
    boundary (overshoot), which in practice makes the real error rates smaller. Source: A. Wald
    (1945), "Sequential tests of statistical hypotheses", Ann. Math. Statist. 16(2):117-186.
    Callers must stop at the first decision; counts after that carry no guarantee.
    """

    p0: float
    p1: float
    alpha: float = 0.05
    beta: float = 0.05

    def __post_init__(self):
        for name in ("p0", "p1", "alpha", "beta"):
            _in_open(name, getattr(self, name))
        if not self.p0 < self.p1:
            raise ValueError(f"p1={self.p1!r}: must be greater than p0={self.p0!r}")
        if self.alpha + self.beta >= 1:
            raise ValueError(f"alpha + beta={self.alpha + self.beta!r}: must be < 1 so that B < A")

    @property
    def A(self) -> float:
        """Upper likelihood-ratio threshold (1 - beta)/alpha: accept H1 at or above it."""
        return (1 - self.beta) / self.alpha

    @property
    def B(self) -> float:
        """Lower likelihood-ratio threshold beta/(1 - alpha): accept H0 at or below it."""
        return self.beta / (1 - self.alpha)

    def log_likelihood_ratio(self, failures: int, trials: int) -> float:
        """ln[L(p1)/L(p0)] for `failures` failures in `trials` Bernoulli trials."""
        failures, trials = _failure_counts(failures, trials)
        return failures * math.log(self.p1 / self.p0) + (trials - failures) * (
            math.log1p(-self.p1) - math.log1p(-self.p0)
        )

    def update(self, failures: int, trials: int) -> str:
        """Decision for cumulative counts: "accept_h0", "accept_h1" or "continue"."""
        llr = self.log_likelihood_ratio(failures, trials)
        if llr >= math.log(self.A):
            return "accept_h1"
        if llr <= math.log(self.B):
            return "accept_h0"
        return "continue"


def _failure_counts(failures, trials) -> tuple[int, int]:
    trials = _count("trials", trials, 0)
    failures = _count("failures", failures, 0)
    if failures > trials:
        raise ValueError(f"failures={failures!r}: must be <= trials={trials}")
    return failures, trials


def sequential_decision_confidence(looks: int, confidence: float) -> float:
    """Per-look confidence 1 - (1 - C)/looks for repeatedly checking an interval.

    Bonferroni: P(some look errs) <= sum over looks of (1 - C)/looks = 1 - C, whatever the
    dependence between looks. Conservative compared with group-sequential boundaries
    (Pocock 1977; O'Brien & Fleming 1979) but needs no design in advance beyond the number of looks.
    """
    looks = _count("looks", looks, 1)
    confidence = _in_open("confidence", confidence)
    return 1 - (1 - confidence) / looks
