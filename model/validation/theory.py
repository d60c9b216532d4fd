"""Closed forms of the special cases (package docstring): renewal means, waiting-time laws, the
backoff schedule, Gilbert-Elliott loss, the exact error rates of an SPRT.
"""

from __future__ import annotations

import bisect
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


def fast_retransmit_go_back(gap: float, loss: float, rtt: float, rto: float) -> float:
    """The go-back term of `fast_retransmit_mean` (package docstring, section 3): E[delay of a
    lost frame X] with older frames' timeout retransmissions getting through (heads), minus E
    without them (the closed form). Heads are taken as independent events at their times (their
    law from `_go_back_heads`); X follows its attempts (`_LostFrame`) and goes back behind the
    first head after each attempt that comes before its next one. Left out: correlations between
    heads through the frames they share, about (R/g) p^2 of the term. Needs R/g and RTT/g far
    from ratios of small integers, so that no head lands on one of X's attempts (a tie that float
    rounding would decide)."""
    heads = sorted(_go_back_heads(gap, loss, rtt, rto).items())
    with_heads = _LostFrame(gap, loss, rtt, rto, heads)
    without = _LostFrame(gap, loss, rtt, rto, [])
    return sum(
        pn * (with_heads.expected(n) - without.expected(n))
        for n, pn in _first_through(gap, loss, rtt, rto)
    )


_TOL = 1e-8  # probability below which a branch (or a head) is dropped


def _first_through(gap, loss, rtt, rto):
    """(N, P(N)) for N ~ Geometric(1-p) on 1, 2, ... while the SACK of frame N comes before the
    tail loss probe (N g + RTT < R), as the closed form assumes; the rest has probability p^N."""
    n = 1
    while n * gap + rtt < rto and loss ** (n - 1) > _TOL:
        yield n, loss ** (n - 1) * (1 - loss)
        n += 1


def _go_back_heads(gap, loss, rtt, rto) -> dict:
    """{h: P(an older frame's timeout retransmission gets through at h > 0)}, relative to X's
    departure. Frame Y, j frames older, is lost (p), its first later frame through is n < j
    frames on (so Y's resend, n g + RTT after it, shares nothing with X), the resend is lost (p)
    and the timer's attempt K = k gets through with its ACK, or K = k-1 with its ACK lost: head at
    (n - j) g + RTT + R (2^k - 1), d = n g + RTT + R (2^k - 1) after Y left, unless Y went back
    behind a head of its own older frames before d (the same law, shifted: two passes)."""
    heads: dict = {}
    for _ in range(3):  # none, then the first pass's survival, then the second's
        times = sorted(heads)
        survival = np.cumprod([1.0] + [1 - heads[h] for h in times])
        thinned: dict = defaultdict(float)
        for n, pn in _first_through(gap, loss, rtt, rto):
            for k in range(1, 60):
                pk = loss ** (k - 1) * (1 - loss) ** 2 + (k > 1) * loss ** (k - 1) * (1 - loss)
                d = n * gap + rtt + rto * (2**k - 1)  # the head's time after Y left
                weight = loss * pn * loss * pk * survival[bisect.bisect_left(times, d)]
                if weight < _TOL:
                    break
                j = n + 1
                while d - j * gap > 0:
                    thinned[d - j * gap] += weight
                    j += 1
        heads = thinned
    return heads


class _LostFrame:
    """E[delay] of frame X, lost at time 0, given N, by following its attempts with their
    probabilities under the assumptions of `model.recovery`: the next attempt is the earliest of
    its timer, a SACK of a later first transmission (unless fast recovery blocks it) and a head;
    each attempt is lost with probability p until one gets through; the ACK of the first timeout
    retransmission through (no probe) is lost with probability p. Frames 1..N-1 are lost and N
    gets through; later ones are drawn as needed. `heads`: sorted (time, probability)."""

    def __init__(self, gap, loss, rtt, rto, heads):
        self.g, self.p, self.rtt, self.rto = gap, loss, rtt, rto
        self.heads, self.head_times = heads, [h for h, _ in heads]

    def expected(self, n: int) -> float:
        p, start = self.p, (0.0, 0.0, 0, True, n, frozenset([n]))
        return (1 - p) * self._after(start, False, 1 - p) + p * self._after(start, True, p)

    def _timer(self, start: float, timeouts: int) -> float:
        """The timer's next attempt: R, 2R, 4R, ... after the departure (the probe first), R, 3R,
        7R, ... after a retransmission."""
        if start == 0.0:
            return self.rto * 2**timeouts
        return start + self.rto * (2 ** (timeouts + 1) - 1)

    def _sacks(self, t: float, before: float, known: int, through: frozenset):
        """(probability, SACK time, frames known, frames through) of the first later first
        transmission through that leaves after t and before `before`; time inf if none does."""
        out, weight, k = [], 1.0, math.floor(t / self.g) + 1
        while k * self.g < before and weight > _TOL:
            ok = (k in through) if k <= known else None
            if ok is not False:
                time = max(k * self.g + self.rtt, t + 1.25 * self.rtt)
                p_ok = 1.0 if ok else 1 - self.p
                out.append((weight * p_ok, time, max(known, k), through | {k}))
                if ok:
                    return out
                weight *= self.p
            k += 1
        out.append((weight, math.inf, max(known, k - 1), through))
        return out

    def _first_head(self, t: float, at: float):
        """(probability, time) of the first head in (t, at), and (probability, inf) of none."""
        out, none = [], 1.0
        a, b = bisect.bisect_right(self.head_times, t), bisect.bisect_left(self.head_times, at)
        for h, q in self.heads[a:b]:
            out.append((none * q, h))
            none *= 1 - q
        return out + [(none, math.inf)]

    def _after(self, state, ack_lost: bool, weight: float, sure: bool = False) -> float:
        """E[delay] from `state` = (last attempt, timer start, timeouts, fast retransmit possible,
        frames known, frames through); `sure`: every attempt gets through from now on."""
        t, start, timeouts, fast, known, through = state
        timer = self._timer(start, timeouts)
        if weight < _TOL:
            return timer  # a bias below _TOL x the delay
        probe = start == 0.0 and timeouts == 0
        sacks = self._sacks(t, timer, known, through) if fast else [(1.0, math.inf, known, through)]
        total = 0.0
        for q_sack, sack, known2, through2 in sacks:
            for q_head, head in self._first_head(t, min(sack, timer)):
                q = q_sack * q_head
                if head < math.inf:
                    at, nxt, timeout = head, (head, head, 0, True), False
                elif sack < timer:
                    at, nxt, timeout = sack, (sack, sack, 0, False), False
                else:
                    at, nxt, timeout = timer, (timer, start, timeouts + 1, probe), not probe
                nxt += (known2, through2)
                p_ok = 1.0 if sure else 1 - self.p
                if timeout and ack_lost:  # through, but its ACK is lost: one more timeout
                    got = self._after(nxt, False, weight * q * p_ok, True)
                else:
                    got = at
                lost = self._after(nxt, ack_lost, weight * q * (1 - p_ok)) if p_ok < 1 else 0.0
                total += q * (p_ok * got + (1 - p_ok) * lost)
        return total
