"""The link and the weather against closed-form results.

Each check compares a Monte Carlo estimate with its theoretical value using a tolerance derived
from the number of samples (stated per test); seeds are fixed, so a failure is reproducible.
"""

import math

import numpy as np
import pytest
from scipy import stats

from conftest import calm
from model.config import Loss, apply_overrides
from model.link import LinkPhysics
from model.network import Weather
from model.simulation import simulate
from model.timers import retransmission_offsets


def physics_for(loss: Loss, seed: int) -> LinkPhysics:
    """The calm link with `loss` on the wire, its weather and draws from one seeded generator."""
    cfg = apply_overrides(
        calm(link__rto_min=1.0),  # R = 1 s: the RTO floor binds (calm RTT is 40 ms)
        {f"network.unstable.loss.{k}": v for k, v in loss.__dict__.items()},
    )
    rng = np.random.default_rng(seed)
    return LinkPhysics(cfg, Weather(cfg, rng), rng)


def extra_delays(physics: LinkPhysics, n: int) -> np.ndarray:
    """Retransmission delay of n frames sent 1 ms apart (no jitter, no outage)."""
    depart = np.arange(n) * 1e-3
    return physics.arrivals(depart) - depart - physics.cfg.link.propagation


def test_gilbert_elliott_loss_rate_matches_stationary_formula():
    # netem-style chain p=0.05, r=0.3, loss 1 % good / 50 % bad:
    # pi_B = p/(p+r) = 1/7, loss rate = (6/7)(0.01) + (1/7)(0.5) = 0.08 exactly.
    loss = Loss("gilbert_elliott", p=0.05, r=0.3, loss_good=0.01, loss_bad=0.5)
    assert loss.rate() == pytest.approx(0.08)
    # 40 independent replications of 5,000 frames; lost fraction = failures / attempts.
    # The replication means are independent, so a t-interval at 99.9 % must contain 0.08.
    fractions = []
    for rep in range(40):
        ph = physics_for(loss, seed=rep)
        offsets = retransmission_offsets(ph.cfg.link, 1.0)
        failures = np.searchsorted(offsets, extra_delays(ph, 5000) - 1e-9)
        fractions.append(failures.sum() / (failures.sum() + 5000))
    mean, half = _t_interval(fractions, 0.999)
    assert abs(mean - 0.08) <= half, (mean, half)


def test_gilbert_elliott_bad_runs_last_one_over_r_transmissions():
    # Bad-state sojourns are geometric with mean 1/r = 4 transmissions for r = 0.25.
    loss = Loss("gilbert_elliott", p=0.1, r=0.25, loss_good=0.0, loss_bad=1.0)
    ph = physics_for(loss, seed=3)
    states = ph.gilbert_elliott_states(loss, False, 400_000)
    edges = np.flatnonzero(np.diff(states.astype(np.int8)))
    runs = np.diff(edges)[(states[edges[:-1] + 1])]  # lengths of runs that start in the bad state
    # geometric(0.25): sd = sqrt(1-r)/r = 3.46; n ~ 11,000 runs; 5 standard errors
    se = math.sqrt(1 - 0.25) / 0.25 / math.sqrt(len(runs))
    assert abs(runs.mean() - 4.0) <= 5 * se and len(runs) > 5000


@pytest.mark.parametrize("p", [0.05, 0.15])
def test_rto_retransmission_delay_is_r_p_over_1_minus_2p(p):
    # Bernoulli loss p, RTO R = 1 s doubling:
    # E[delay] = sum_f (1-p) p^f R (2^f - 1) = R p / (1 - 2p).
    # E[delay^2] = R^2 (1-p) [1/(1-4p) - 2/(1-2p) + 1/(1-p)] (finite for p < 1/4) gives the
    # standard error of the mean of 200,000 frames; the tolerance is 4.5 standard errors.
    # (The 120 s cap binds only from the 8th loss in a row: probability < 3e-7, negligible.)
    ph = physics_for(Loss("bernoulli", p=p), seed=7)
    delays = extra_delays(ph, 200_000)
    expected = p / (1 - 2 * p)
    second = (1 - p) * (1 / (1 - 4 * p) - 2 / (1 - 2 * p) + 1 / (1 - p))
    se = math.sqrt((second - expected**2) / len(delays))
    assert abs(delays.mean() - expected) <= 4.5 * se, (delays.mean(), expected, se)


def test_disconnect_counts_are_poisson():
    # Rate 1/60 per s over a 600 s horizon: counts ~ Poisson(10). Chi-square goodness of fit over
    # 2,000 weathers, bins with expected count >= 5; reject at 0.1 %.
    cfg = calm(disconnects__rate_scale=1.0)
    counts = np.array([len(Weather(cfg, np.random.default_rng(i)).events) for i in range(2000)])
    lam = cfg.network.unstable.disconnect_rate * cfg.horizon
    edges = np.arange(3, 18)
    observed = (
        [np.sum(counts <= 3)] + [np.sum(counts == k) for k in edges[1:]] + [np.sum(counts >= 18)]
    )
    probs = (
        [stats.poisson.cdf(3, lam)]
        + [stats.poisson.pmf(k, lam) for k in edges[1:]]
        + [stats.poisson.sf(17, lam)]
    )
    _, pvalue = stats.chisquare(observed, np.array(probs) * len(counts))
    assert pvalue > 0.001


def test_probability_of_no_disconnect_during_a_stream_is_exp_minus_lambda_t():
    # A calm 200-frame stream takes T = 4.12 s without interruption. With close-only disconnects at
    # rate 0.1/s, P(untouched) = exp(-0.1 T). Untouched streams finish at exactly T with no
    # disconnect; 2,000 streams; the 99.9 % Wilson interval must contain the theory.
    overrides = dict(
        content__frames=200,
        disconnects__rate_scale=1.0,
        network__unstable__disconnect_rate=0.1,
        disconnects__weight_reset=0.0,
        disconnects__weight_half_open=0.0,
    )
    clean_time = simulate(calm(content__frames=200), 1, seed=5).streams.completion_time[0]
    s = simulate(calm(**overrides), 2000, seed=5).streams
    untouched = int(((s.disconnects == 0) & np.isclose(s.completion_time, clean_time)).sum())
    lo, hi = _wilson(untouched, len(s), 0.999)
    assert lo <= math.exp(-0.1 * clean_time) <= hi, (
        untouched / len(s),
        math.exp(-0.1 * clean_time),
    )


def _t_interval(values, confidence):
    values = np.asarray(values)
    half = (
        stats.t.ppf(0.5 + confidence / 2, len(values) - 1)
        * values.std(ddof=1)
        / math.sqrt(len(values))
    )
    return values.mean(), half


def _wilson(k, n, confidence):
    z = stats.norm.ppf(0.5 + confidence / 2)
    centre = (k + z * z / 2) / (n + z * z)
    half = z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return centre - half, centre + half
