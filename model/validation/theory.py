"""Closed forms of the special cases (package docstring): renewal means, waiting-time laws, the
backoff schedule, Gilbert-Elliott loss, the exact error rates of an SPRT.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from scipy import stats as sps

from model import stats
from model.config import Scenario
from model.validation.scenarios import GUARD, MEAN_OUTAGE, OUTAGE, POLL, RATE


def repeat_mean(job: float, rate: float, mean_down: float) -> float:
    """E[completion] of a job of length `job` repeated from scratch after each Poisson(rate)
    interruption, each followed by an i.i.d. downtime of mean `mean_down`."""
    return (1 / rate + mean_down) * math.expm1(rate * job)


def constant_wait_pmf(rate: float, outage: float, kmax: int) -> np.ndarray:
    """P(K = k), k = 1..kmax, for the constant-outage grid: Geometric(e^{-rate outage})."""
    q = math.exp(-rate * outage)
    k = np.arange(1, kmax + 1)
    return q * (1 - q) ** (k - 1)


def grid_wait(rate: float, mean_outage: float, step: float, nmax: int = 30, tol: float = 1e-14):
    """(pmf of K on 1, 2, ..., E[K]) for exponential outages polled every `step` (docstring 1).

    States: number of live outages at a grid instant (truncated at `nmax`; the chance of more than
    a few is negligible for the parameters used here)."""
    survive = math.exp(-step / mean_outage)
    fresh = rate * mean_outage * (1 - survive)
    states = np.arange(nmax + 1)
    P = np.zeros((nmax + 1, nmax + 1))
    for a in states:
        for j, pj in enumerate(sps.binom.pmf(np.arange(a + 1), a, survive)):
            P[a, j:] += pj * sps.poisson.pmf(np.arange(nmax + 1 - j), fresh)
    v = np.zeros(nmax + 1)
    v[1] = 1.0
    pmf = []
    while v.sum() > tol:
        w = v @ P
        pmf.append(w[0])
        w[0] = 0.0
        v = w
    hitting = np.linalg.solve(np.eye(nmax) - P[1:, 1:], np.ones(nmax))
    return np.array(pmf), float(hitting[0])


def mean_downtime(downtime: str) -> float:
    if downtime == "constant":
        return (OUTAGE + GUARD) * math.exp(RATE * OUTAGE)
    return POLL * grid_wait(RATE, MEAN_OUTAGE, POLL)[1]


def attempts_sum_pmf(frames: int, p_frame: float, q: float, mmax: int) -> np.ndarray:
    """P(M = m), m = 0..mmax, M = sum of K_i (K_i ~ Geometric(q) on 1, 2, ...) over B ~
    NegativeBinomial(frames, p_frame) interruptions."""
    b = sps.nbinom.pmf(np.arange(mmax + 1), frames, p_frame)
    out = np.zeros(mmax + 1)
    out[0] = b[0]
    for m in range(1, mmax + 1):
        n = np.arange(1, m + 1)  # sum of n geometrics = m: C(m-1, n-1) q^n (1-q)^(m-n)
        out[m] = float(np.sum(b[n] * sps.binom.pmf(n - 1, m - 1, q) * q))
    return out


def backoff_syn_times(cfg: Scenario) -> list[float]:
    """t_k, k = 1..max_attempts: after the break, when attempt k's last useful SYN leaves.

    Attempt 1 starts `first_delay` after detection; attempt k+1 starts `connect_timeout` after
    attempt k plus the jitter-free delay min(cap, base factor^(k-1)); attempts later than
    `deadline` are not made. Within an attempt SYNs leave at 0, R, 3R, 7R, ... < connect_timeout;
    one counts only if its handshake (2 x handshake_rtts legs of `propagation`) also ends within
    connect_timeout."""
    b, c, link = cfg.client.backoff, cfg.client, cfg.link
    handshake = c.handshake_rtts * (2 * link.propagation + cfg.server.processing)
    syns, syn, step = [], 0.0, link.syn_rto
    while syn < c.connect_timeout:
        if syn + handshake <= c.connect_timeout:
            syns.append(syn)
        syn, step = syn + step, 2 * step
    start, times = b.first_delay, []
    for k in range(1, b.max_attempts + 1):
        if k > 1:
            start += c.connect_timeout + min(b.cap, b.base * b.factor ** (k - 2))
        if start > b.deadline:
            break
        times.append(start + max(syns) if syns else (times[-1] if times else 0.0))
    return times


def sprt_exact(sprt: stats.SPRT, p: float, tol: float = 1e-13, max_trials: int = 10**6) -> dict:
    """P(accept_h0), P(accept_h1) and E[trials] of `sprt` when the failure probability is p, by
    propagating the probability of every undecided (failures, trials) state through
    `sprt.update` until less than `tol` is left undecided."""
    alive, t = {0: 1.0}, 0
    ends = {"accept_h0": 0.0, "accept_h1": 0.0}
    asn = 0.0
    while sum(alive.values()) > tol and t < max_trials:
        t += 1
        step: dict[int, float] = defaultdict(float)
        for f, pr in alive.items():
            step[f + 1] += pr * p
            step[f] += pr * (1 - p)
        alive = {}
        for f, pr in step.items():
            decision = sprt.update(f, t)
            if decision == "continue":
                alive[f] = pr
            else:
                ends[decision] += pr
                asn += t * pr
    return {**ends, "undecided": sum(alive.values()), "asn": asn}


def gilbert_elliott_loss(p, r, lg, lb):
    """(long-run loss rate, mean loss-burst length) of a Gilbert-Elliott channel (docstring 3)."""
    pi_b = p / (p + r)
    pi = np.array([1 - pi_b, pi_b])
    loss = np.array([lg, lb])
    P = np.array([[1 - p, p], [r, 1 - r]])
    rate = float(pi @ loss)
    both = float(np.sum(pi[:, None] * loss[:, None] * P * loss[None, :]))
    return rate, rate / (rate - both)


def fast_retransmit_mean(gap: float, loss: float, rtt: float, rto: float) -> float:
    """E[delay of a frame whose first transmission was lost] under SACK/RACK fast retransmit
    (package docstring, section 3): resent one RTT after the first later frame that gets through
    left, g E[N] + RTT with N ~ Geometric(1-p) frames; a lost resend waits for the timer (R, 3R,
    ... after it: nothing new leaves in fast recovery to SACK it), R p/(1-2p) more on average, and
    if the ACK of the timeout retransmission that gets through is lost (probability p) for one
    more, backed-off timeout: 2R, 4R, ... more, 2 R p (1-p)/(1-2p) on average given the resend
    was lost."""
    timer = rto * loss * (1 + 2 * loss * (1 - loss)) / (1 - 2 * loss)
    return gap / (1 - loss) + rtt + timer
