"""Validation against theory: the model put into special cases where a closed form is known.

Every case runs the model (or one public piece of it) with fixed seeds, derives the closed-form
value here, and applies ONE statistical test whose false-alarm rate (the chance of calling a
correct model wrong) is stated in the case's note. Every test is set at 0.1 %: a 99.9 % interval
that must contain the derived value, or a goodness-of-fit statistic that must stay below its
0.1 % critical value. With the ~20 cases below a correct model therefore fails somewhere with
probability at most ~2 % (union bound); the seeds are fixed, so any failure is reproducible, and
quick mode runs the first streams of the full run (stream i depends only on (seed, i)).

Row semantics (`run_cases`): for interval cases `lower`/`upper` is the 99.9 % confidence interval
of the estimate and the case agrees iff it contains `expected`; for goodness-of-fit cases
`estimate` is the test statistic, `expected` its mean under the theory (chi-square: its degrees of
freedom; Kolmogorov-Smirnov: the mean of the exact null distribution), `[lower, upper]` the
acceptance region, and the case agrees iff the statistic falls in it.

-------------------------------------------------------------------------------------------------
1. Completion time of a stream under Poisson disconnects (Gaver 1962; Kulkarni, Nicola & Trivedi
   1987). Mapping of the model onto the theory (`completion_scenario`):

   * Work. In the model the server's generation goes on during a disconnect, so generation cannot
     be the work. Instead the server generates everything at once (`server.gap` = 0, a buffer
     larger than the response, no retention expiry) and the work is the link's serialisation:
     N = 1000 frames of 1000 B (`large` content, no envelope) at 100 kB/s, s = 0.01 s per frame,
     T = N s = 10 s. Propagation 0, no jitter, no loss: connecting, the handshake, the resume
     request and the last frame's flight take no time, so the stream starts at t = 0, is never
     slowed by anything but disconnects, and an undisturbed stream ends at exactly T.
   * Interruptions. One condition (`unstable`, sojourn infinite) with Poisson rate lambda = 0.1/s,
     clean closes only (detection delay 0); heartbeat pings pushed beyond reach (1e4 s).
   * Lost work. A close cuts the connection: frames that finished serialising before the break
     have arrived (propagation 0); the frame on the wire is lost and sent again from its start.
     `resume` is therefore preemptive-REPEAT at the level of a frame: each of the N frames is an
     independent job of length s that is repeated until it gets through an up-period, because
     every frame start is a renewal (Poisson arrivals are memoryless, the network is up with no
     outage pending while streaming). `restart` is preemptive-repeat of the whole job T.
   * Downtime. Disconnects are exogenous: they go on arriving while the client reconnects (each
     one's outage blocks connection attempts) - Daly's (2006) variant, so the downtime D is NOT
     the outage. The attempts are put on an exact grid: `first_delay` 0, `constant` backoff of
     0 s without jitter, one SYN per attempt (`syn_rto` >= `connect_timeout` = c), a handshake of
     zero duration. The attempt at the break itself always fails (its outage has just begun);
     attempt j+1 starts at break + j c and succeeds iff no outage covers that instant. So
     D = K c, K = the first grid index j >= 1 at which the network is up, and the attempts
     column is K + 1.
       - constant outage O, c = O + 1e-6 s: the instant break + j c is covered iff an event fell in
         (break + j c - O, break + j c]; these windows are disjoint for different j (c > O; the
         1e-6 s guard also keeps float round-off from landing an attempt on the outage's end), so
         K ~ Geometric(q = e^{-lambda O}) on {1, 2, ...}: E[D] = c e^{lambda O}.
       - exponential outage (mean m), c = 0.05 s: the number of live outages at the grid instants
         is a Markov chain (M/M/infinity sampled every c: each outage survives a step with
         probability e^{-c/m}, new live ones are Poisson(lambda m (1 - e^{-c/m}))), starting from
         one at the break; K is its first passage to 0, computed exactly from the chain
         (`grid_wait`). Without events during downtime K would be Geometric(1 - e^{-c/m}).
     D depends only on events after the break, so successive downtimes are i.i.d. and
     independent of the up-periods: the textbook's assumptions hold with this D.
   * Closed forms (preemptive-repeat of a job of length a with i.i.d. downtime D: the number of
     failed tries is Geometric with success e^{-lambda a}, a failed try lasts E[U | U < a] =
     1/lambda - a/(e^{lambda a} - 1)):  E = (1/lambda + E[D]) (e^{lambda a} - 1).
       restart: E[X] = (1/lambda + E[D])(e^{lambda T} - 1); restarts ~ Geometric0(e^{-lambda T});
                the work lost at each restart ~ Exp(lambda) truncated to [0, T).
       resume:  E[X] = N (1/lambda + E[D])(e^{lambda s} - 1) -> T (1 + lambda E[D]) as s -> 0
                (here larger by the factor (e^{lambda s} - 1)/(lambda s) = 1.0005);
                interruptions ~ NegativeBinomial(N, e^{-lambda s}) (-> Poisson(lambda T));
                P(no interruption) = e^{-lambda T} exactly;
                for constant O: X = T + M c + W, 0 <= W < s * interruptions, with M = sum of the
                interruptions' K: the model's version of P(X = T + n D). M's law is the
                NegativeBinomial mixture of sums of Geometric(q) (`attempts_sum_pmf`).
   The textbook values with E[D] = O (no disconnects during reconnection) are printed in the notes:
   the full runs can tell them apart from the model, the frame-level correction they cannot.

2. Backoff (`backoff_scenario`): one scheduled clean close at 0.5 s with an outage O drawn by this
   module from Exp(m = 6 s) (a schedule keeps other disconnects out, so the single-outage theory
   applies exactly), no random disconnects, 10 ms one way, 2 handshake round trips (40 ms).
   Attempts k = 1..K (K = 4): exponential delays 0.5, 1, 2 s without jitter, `connect_timeout`
   3.02 s, SYNs at 0, 1, 3 s of each attempt. A SYN at 3 s leaves, but its handshake cannot end
   within the timeout (3.04 > 3.02) and the attempt fails even if the network is back: such SYNs
   do not count. t_k = (start of attempt k) + (last SYN whose handshake fits) after the break:
   t = 1, 4.52, 8.54, 13.56 s. Attempt k succeeds iff t_{k-1} < O <= t_k, so
   P(give up) = e^{-t_K/m} and P(K = k) = e^{-t_{k-1}/m} - e^{-t_k/m} (t_0 = 0).

3. Link (public `LinkPhysics.arrivals`, frames 1 ms apart, no outage, no jitter; each frame's
   failed transmissions f are decoded from its delay, which must be a sum R + 2R + ... exactly).
   Gilbert-Elliott (netem `gemodel`): the chain steps once per frame's first transmission and a
   retransmission sees the long-run loss rate (README), so every transmission is lost with the
   stationary rate pi_G (1-k) + pi_B (1-h), pi_B = p/(p + r), and a loss burst is a run of
   consecutive frames whose first transmission was lost (f > 0): its mean length is
   P(lost) / P(previous kept, this lost), P(both lost) = sum_{s,s'} pi_s l_s P(s,s') l_s' (1/r for
   the simple Gilbert channel, k = 0, h = 0). A 200-frame warm-up brings the chain to stationarity.
   RTO (RFC 6298) delay with Bernoulli loss p and R = max(SRTT + 4 RTTVAR, rto_min) = 1 s, doubling
   (cap lifted): E = sum_f (1-p) p^f R (2^f - 1) = R p/(1 - 2p).

4. Statistics (`model.stats`): exact coverage of the Wilson and Clopper-Pearson intervals at
   p = 0.001, n = 2000 (sum of binomial probabilities of the counts whose interval covers p) against
   simulated coverage; Wald's SPRT error rates, computed exactly by propagating the probability of
   every undecided (failures, trials) state through `SPRT.update`, against simulation, and the
   exact rates against Wald's bounds alpha/(1 - beta) and beta/(1 - alpha).
"""
from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import stats as sps

from model import runner, stats
from model.config import Scenario, apply_overrides
from model.link import LinkPhysics
from model.network import Weather
from model.simulation import Results, session_record

ALPHA = 0.001            # false-alarm rate of every test
CONFIDENCE = 1 - ALPHA
WORKERS = 2

# ---- completion-time special case
RATE = 0.1               # lambda, disconnects per second
FRAMES = 1000            # N
FRAME_BYTES = 1000
WORK = 10.0              # T = N s, seconds of serialisation
FRAME_TIME = WORK / FRAMES  # s
OUTAGE = 1.0             # constant outage O
GUARD = 1e-6             # c = O + GUARD
MEAN_OUTAGE = 1.0        # exponential outage mean m
POLL = 0.05              # attempt grid for exponential outages
HORIZON = 1000.0

# ---- backoff special case
BREAK_AT = 0.5
BACKOFF_MEAN_OUTAGE = 6.0
BACKOFF_ATTEMPTS = 4

SEEDS = {("resume", "constant"): 11, ("restart", "constant"): 12, ("resume", "exponential"): 13,
         ("restart", "exponential"): 14, "backoff": 21, "ge": 31, "rto": 32, "wilson": 41,
         "clopper-pearson": 42, "sprt": 43}
# replications: (quick, full)
SIZES = {"completion": (2000, 20000), "backoff": (2000, 20000), "ge_reps": (40, 200),
         "ge_frames": 5000, "rto": (200_000, 2_000_000), "coverage": (100_000, 1_000_000),
         "sprt": (2000, 20000)}


# =============================================================================== scenarios

def completion_scenario(strategy: str, downtime: str) -> Scenario:
    """The completion-time special case (module docstring, section 1)."""
    step = OUTAGE + GUARD if downtime == "constant" else POLL
    outage = ({"disconnects.outage.kind": "constant", "disconnects.outage.scale": OUTAGE} if downtime == "constant"
              else {"disconnects.outage.kind": "exponential", "disconnects.outage.scale": MEAN_OUTAGE})
    return apply_overrides(Scenario(name=f"validate-{strategy}-{downtime}"), {
        "network.initial": "unstable",
        "network.unstable.loss.model": "none",
        "network.unstable.jitter.kind": "constant", "network.unstable.jitter.scale": 0.0,
        "network.unstable.disconnect_rate": RATE, "network.unstable.mean_sojourn": math.inf,
        "disconnects.rate_scale": 1.0, "disconnects.schedule": "",
        "disconnects.weight_close": 1.0, "disconnects.weight_reset": 0.0, "disconnects.weight_half_open": 0.0,
        **outage,
        "link.propagation": 0.0, "link.bandwidth": FRAMES * FRAME_BYTES / WORK, "link.corruption_rate": 0.0,
        "link.syn_rto": 10 * step,  # one SYN per attempt
        "content.kind": "large", "content.frames": FRAMES, "content.frame_bytes": FRAME_BYTES,
        "content.envelope_bytes": 0,
        "server.gap.kind": "constant", "server.gap.scale": 0.0, "server.buffer_bytes": 10**9,
        "server.when_full": "block", "server.retention": 1e6, "server.replay_from": "client",
        "client.strategy": strategy, "client.connect_timeout": step, "client.auth_failure_prob": 0.0,
        "client.ping_interval": 1e4, "client.ping_timeout": 1e4,
        "client.backoff.policy": "constant", "client.backoff.jitter": "none", "client.backoff.first_delay": 0.0,
        "client.backoff.base": 0.0, "client.backoff.max_attempts": 10**6, "client.backoff.deadline": 1e6,
        "session.streams": 1, "horizon": HORIZON,
    })


def backoff_scenario(outage: float) -> Scenario:
    """The backoff special case (module docstring, section 2) with one close at 0.5 s and `outage`."""
    return apply_overrides(Scenario(name="validate-backoff"), {
        "network.unstable.loss.model": "none",
        "network.unstable.jitter.kind": "constant", "network.unstable.jitter.scale": 0.0,
        "network.unstable.mean_sojourn": math.inf,
        "disconnects.rate_scale": 0.0, "disconnects.schedule": f"{BREAK_AT!r}:close:{outage!r}",
        "link.propagation": 0.01, "link.syn_rto": 1.0, "link.corruption_rate": 0.0,
        "content.frames": 50, "server.gap.kind": "constant", "server.gap.scale": 0.02,
        "client.connect_timeout": 3.02, "client.handshake_rtts": 2, "client.auth_failure_prob": 0.0,
        "client.ping_interval": 1e4, "client.ping_timeout": 1e4,
        "client.backoff.policy": "exponential", "client.backoff.jitter": "none",
        "client.backoff.first_delay": 0.0, "client.backoff.base": 0.5, "client.backoff.factor": 2.0,
        "client.backoff.cap": 10.0, "client.backoff.max_attempts": BACKOFF_ATTEMPTS,
        "client.backoff.deadline": 60.0,
    })


def link_scenario(loss: dict) -> Scenario:
    """No disconnects, no jitter, 20 ms one way; `loss` on the `unstable` condition; RTO uncapped
    (rto_max 1e6 s) with 30 retries, so R, 2R, 4R, ... holds for any loss run seen in practice."""
    return apply_overrides(Scenario(name="validate-link"), {
        "network.unstable.jitter.kind": "constant", "network.unstable.jitter.scale": 0.0,
        "network.unstable.mean_sojourn": math.inf, "disconnects.rate_scale": 0.0,
        "link.propagation": 0.02, "link.rto_min": 1.0, "link.rto_max": 1e6, "link.tcp_retries": 30,
        **{f"network.unstable.loss.{k}": v for k, v in loss.items()},
    })


# =============================================================================== theory

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
    handshake = 2 * c.handshake_rtts * link.propagation
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


# =============================================================================== rows

def _interval_row(case, expected, estimate, lower, upper, note) -> dict:
    agree = bool(np.isfinite(expected) and lower <= expected <= upper)
    return dict(case=case, expected=float(expected), estimate=float(estimate), lower=float(lower),
                upper=float(upper), agree=agree, note=note)


def _failed_row(case, expected, note) -> dict:
    return dict(case=case, expected=float(expected), estimate=math.nan, lower=math.nan, upper=math.nan,
                agree=False, note=note)


def _chi_square_row(case, values, probs, first, note, min_expected=5.0) -> dict:
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
    detail = (f"chi-square over {len(bins_e)} bins (expected >= {min_expected:g} each), reject above the "
              f"0.1 % critical value (false alarm 0.1 %, asymptotic); mean of min(value, {top}): sample "
              f"{np.minimum(values, top).mean():.5g}, theory {mean_th:.5g}; n={n}")
    if below or df < 1:
        why = f"{below} value(s) below the support {first}" if below else "too few data for a test"
        return dict(case=case, expected=float(max(df, 0)), estimate=math.inf, lower=0.0, upper=math.nan,
                    agree=False, note=f"{note}; {why}; {detail}")
    bo, be = np.array(bins_o), np.array(bins_e)
    stat = float(np.sum((bo - be) ** 2 / be))
    crit = float(sps.chi2.isf(ALPHA, df))
    return dict(case=case, expected=float(df), estimate=stat, lower=0.0, upper=crit, agree=bool(stat <= crit),
                note=f"{note}; {detail}; p={sps.chi2.sf(stat, df):.3g}")


def _ks_row(case, sample, cdf, note) -> dict:
    sample = np.asarray(sample, dtype=float)
    n = len(sample)
    res = sps.kstest(sample, cdf, method="exact" if n <= 5000 else "asymp")
    null = sps.kstwo(n)
    crit = float(null.isf(ALPHA))
    return dict(case=case, expected=float(null.mean()), estimate=float(res.statistic), lower=0.0, upper=crit,
                agree=bool(res.statistic <= crit),
                note=f"{note}; Kolmogorov-Smirnov vs the exact null law of D_n (continuous F), reject "
                     f"above its 0.1 % point (false alarm 0.1 %); n={n}, p={res.pvalue:.3g}")


# =============================================================================== context

class _Context:
    """Simulations shared by several cases (run once), sizes, and test hooks."""

    def __init__(self, quick: bool, expected_overrides: dict | None, workers: int):
        self.quick, self.workers = quick, workers
        self.overrides = dict(expected_overrides or {})
        self._cache: dict = {}

    def size(self, name: str) -> int:
        s = SIZES[name]
        return s if isinstance(s, int) else s[0 if self.quick else 1]

    def expected(self, case: str, value: float) -> float:
        """The derived value, unless a test substitutes another (to prove wrong values are caught)."""
        return float(self.overrides.get(case, value))

    def completion(self, strategy: str, downtime: str) -> Results:
        key = ("completion", strategy, downtime)
        if key not in self._cache:
            cfg = completion_scenario(strategy, downtime)
            self._cache[key] = runner.run(cfg, self.size("completion"), SEEDS[(strategy, downtime)],
                                          workers=self.workers, progress=False)
        return self._cache[key]

    def backoff(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(outages, attempts, gave_up) of the backoff replications."""
        if "backoff" not in self._cache:
            n = self.size("backoff")
            outages = np.random.default_rng([SEEDS["backoff"], 0]).exponential(BACKOFF_MEAN_OUTAGE, n)
            attempts, gave_up = np.empty(n, dtype=np.int64), np.empty(n, dtype=bool)
            other = 0  # neither recovered nor network_timeout: the special case does not hold
            for i, o in enumerate(outages):
                (stream,) = session_record(backoff_scenario(float(o)), SEEDS["backoff"], i).streams
                if stream.disconnects != 1:
                    other += 1
                    attempts[i], gave_up[i] = -1, False
                    continue
                (disconnect,) = stream.disconnect_log
                attempts[i], gave_up[i] = disconnect.attempts, disconnect.outcome == "network_timeout"
                other += not gave_up[i] and disconnect.outcome != "recovered"
            self._cache["backoff"] = (outages, attempts, gave_up, other)
        return self._cache["backoff"]

    def link_failures(self, key: str, loss: dict, reps: int, frames: int):
        """Per replication, each frame's failed transmissions (decoded from its `arrivals` delay) and
        the delay itself; plus the count of delays that matched no retransmission offset."""
        cache_key = ("link", key, reps, frames)
        if cache_key not in self._cache:
            cfg = link_scenario(loss)
            R, cap = 1.0, cfg.link.rto_max  # R = max(2 * 0.02 + 4 * 0, rto_min = 1) s
            offsets = np.concatenate([[0.0], np.cumsum(np.minimum(R * 2.0 ** np.arange(cfg.link.tcp_retries), cap))])
            out, delays, mismatched = [], [], 0
            for rep in range(reps):
                rng = np.random.default_rng([SEEDS[key], rep])
                physics = LinkPhysics(cfg, Weather(cfg, rng), rng)
                physics.arrivals(np.arange(200) * 1e-3)  # warm-up: the loss chain reaches stationarity
                depart = 1.0 + np.arange(frames) * 1e-3
                extra = physics.arrivals(depart) - depart - cfg.link.propagation
                f = np.searchsorted(offsets, extra - 1e-6)
                ok = np.isfinite(extra) & (f < len(offsets))
                mismatched += int((~ok).sum()) + int((np.abs(offsets[f[ok]] - extra[ok]) > 1e-6).sum())
                out.append(np.where(ok, f, len(offsets)))
                delays.append(extra)
            self._cache[cache_key] = (out, delays, mismatched)
        return self._cache[cache_key]


def _completion_times(res: Results):
    s = res.streams
    bad = int((s.outcome != "completed").sum())
    return s.completion_time.to_numpy(dtype=float), bad


# =============================================================================== cases

def _mean_case(strategy: str, downtime: str):
    name = f"completion {strategy}, {downtime} outage: mean"

    def run(ctx: _Context) -> dict:
        ed = mean_downtime(downtime)
        outage_mean = OUTAGE if downtime == "constant" else MEAN_OUTAGE
        if strategy == "resume":
            theory = FRAMES * repeat_mean(FRAME_TIME, RATE, ed)
            naive = WORK * (1 + RATE * outage_mean)
            formula = (f"N(1/l+E[D])(e^(l s)-1) (frame-level repeat; textbook resume T(1+l E[D]) = "
                       f"{WORK * (1 + RATE * ed):.5g})")
        else:
            theory = repeat_mean(WORK, RATE, ed)
            naive = repeat_mean(WORK, RATE, outage_mean)
            formula = "(1/l+E[D])(e^(l T)-1) (textbook restart, exact here)"
        expected = ctx.expected(name, theory)
        x, bad = _completion_times(ctx.completion(strategy, downtime))
        d_text = ("E[D]=(O+1e-6)e^(l O)" if downtime == "constant" else "E[D]=0.05 E[K], K from the M/M/inf grid chain")
        note = (f"{formula}, {d_text}={ed:.5g} s; with E[D]=outage mean (no disconnects during "
                f"reconnection, no polling grid) it would be {naive:.5g}; Student t 99.9 % interval "
                f"(CLT; false alarm ~0.1 %)")
        if bad:
            return _failed_row(name, expected, f"{bad} streams did not complete (censored or failed): "
                                               f"the special case does not hold; {note}")
        est, lo, hi = stats.mean_interval(x, CONFIDENCE)
        return _interval_row(name, expected, est, lo, hi, f"{note}; n={len(x)}")

    return name, run


def case_no_interruption(ctx: _Context) -> dict:
    name = "completion resume, constant outage: P(no interruption)"
    res = ctx.completion("resume", "constant")
    s = res.streams
    untouched = s.disconnects == 0
    k, n = int(untouched.sum()), len(s)
    exact_t = bool(np.allclose(s.completion_time[untouched], WORK, rtol=0.0, atol=1e-9))  # float sums of s
    expected = ctx.expected(name, math.exp(-RATE * WORK))
    lo, hi = stats.clopper_pearson_interval(k, n, CONFIDENCE)
    row = _interval_row(name, expected, k / n, lo, hi,
                        f"e^(-l T) = (e^(-l s))^N; Clopper-Pearson 99.9 % (false alarm <= 0.1 %); "
                        f"uninterrupted streams end at exactly T: {exact_t}; n={n}")
    row["agree"] = row["agree"] and exact_t
    return row


def case_interruption_counts(ctx: _Context) -> dict:
    name = "completion resume, constant outage: interruptions ~ NegBin(N, e^(-l s))"
    counts = ctx.completion("resume", "constant").streams.disconnects.to_numpy()
    p = math.exp(-RATE * FRAME_TIME)
    kmax = 40
    probs = np.append(sps.nbinom.pmf(np.arange(kmax), FRAMES, p), sps.nbinom.sf(kmax - 1, FRAMES, p))
    return _chi_square_row(name, counts, probs, 0,
                           f"each frame a preemptive-repeat job of s={FRAME_TIME:g} s (mean N(e^(l s)-1)="
                           f"{FRAMES * math.expm1(RATE * FRAME_TIME):.5g}; Poisson(l T={RATE * WORK:g}) in the limit)")


def case_completion_distribution(ctx: _Context) -> dict:
    name = "completion resume, constant outage: law of (X - T)/c"
    res = ctx.completion("resume", "constant")
    x, bad = _completion_times(res)
    c = OUTAGE + GUARD
    if bad:
        return _failed_row(name, math.nan, f"{bad} streams did not complete")
    m = np.floor((x - WORK) / c + 1e-9).astype(np.int64)
    mmax = 40
    pmf = attempts_sum_pmf(FRAMES, math.exp(-RATE * FRAME_TIME), math.exp(-RATE * OUTAGE), mmax)
    return _chi_square_row(name, m, np.append(pmf[:-1], 0.0), 0,
                           "X = T + M c + W, W < s per interruption, so floor((X-T)/c) = M = total grid waits: "
                           "NegBin(N, e^(-l s)) mixture of sums of Geometric(e^(-l O)) (the model's P(X = T + nD))")


def case_constant_downtime(ctx: _Context) -> dict:
    name = "downtime, constant outage: attempts - 1 ~ Geometric(e^(-l O))"
    d = ctx.completion("resume", "constant").disconnects
    k = d.attempts.to_numpy(dtype=np.int64) - 1
    c = OUTAGE + GUARD
    off = float(np.max(np.abs(d.reconnect_time.to_numpy(dtype=float) - k * c))) if len(d) else 0.0
    kmax = 30
    probs = np.append(constant_wait_pmf(RATE, OUTAGE, kmax - 1), (1 - math.exp(-RATE * OUTAGE)) ** (kmax - 1))
    row = _chi_square_row(name, k, probs, 1,
                          f"Daly variant: a disconnect during reconnection costs another c; E[K]=e^(l O)="
                          f"{math.exp(RATE * OUTAGE):.5g} (1 if none could strike); reconnect_time = K c "
                          f"to within {off:.2g} s")
    row["agree"] = row["agree"] and off < 1e-6
    return row


def case_exponential_downtime(ctx: _Context) -> dict:
    name = "downtime, exponential outage: attempts - 1 ~ M/M/inf grid first passage"
    d = ctx.completion("resume", "exponential").disconnects
    k = d.attempts.to_numpy(dtype=np.int64) - 1
    pmf, mean = grid_wait(RATE, MEAN_OUTAGE, POLL)
    kmax = 400
    probs = np.append(pmf[: kmax - 1], max(0.0, 1 - pmf[: kmax - 1].sum()))
    naive = 1 / -math.expm1(-POLL / MEAN_OUTAGE)
    return _chi_square_row(name, k, probs, 1,
                           f"E[K]={mean:.5g} (Geometric(1-e^(-c/m)) without disconnects during reconnection: "
                           f"{naive:.5g})", min_expected=5.0)


def case_restart_counts(ctx: _Context) -> dict:
    name = "completion restart, constant outage: restarts ~ Geometric0(e^(-l T))"
    counts = ctx.completion("restart", "constant").streams.disconnects.to_numpy()
    p = math.exp(-RATE * WORK)
    kmax = 40
    probs = np.append(p * (1 - p) ** np.arange(kmax), (1 - p) ** kmax)
    return _chi_square_row(name, counts, probs, 0, f"mean e^(l T)-1={math.expm1(RATE * WORK):.5g}")


def case_restart_lost_work(ctx: _Context) -> dict:
    name = "completion restart, constant outage: work lost per restart ~ Exp(l) | < T"
    d = ctx.completion("restart", "constant").disconnects.sort_values(["stream", "index"])
    previous = d.groupby("stream").connected_at.shift(1).fillna(0.0)  # the try began when connected
    lost = (d.time - previous).to_numpy(dtype=float)
    norm = -math.expm1(-RATE * WORK)
    return _ks_row(name, lost, lambda x: -np.expm1(-RATE * np.asarray(x)) / norm,
                   "break time minus the (re)connection: the up-period of a failed try, Exp(l) given < T")


def case_backoff_give_up(ctx: _Context) -> dict:
    name = "backoff: P(give up after K attempts) = e^(-t_K/m)"
    outages, attempts, gave_up, other = ctx.backoff()
    t = backoff_syn_times(backoff_scenario(1.0))
    expected = ctx.expected(name, math.exp(-t[-1] / BACKOFF_MEAN_OUTAGE))
    if other:
        return _failed_row(name, expected, f"{other} replications neither recovered nor gave up (network_timeout)")
    k, n = int(gave_up.sum()), len(gave_up)
    lo, hi = stats.clopper_pearson_interval(k, n, CONFIDENCE)
    naive = math.exp(-(t[-1] + 2.0) / BACKOFF_MEAN_OUTAGE)
    return _interval_row(name, expected, k / n, lo, hi,
                         f"t_k = {', '.join(f'{v:.4g}' for v in t)} s after the break (last SYN whose handshake "
                         f"fits the 3.02 s connect timeout); counting the 3 s SYN would give {naive:.4g}; "
                         f"Clopper-Pearson 99.9 % (false alarm <= 0.1 %); n={n}")


def case_backoff_attempts(ctx: _Context) -> dict:
    name = "backoff: attempts until connected (or gave up)"
    outages, attempts, gave_up, other = ctx.backoff()
    t = [0.0] + backoff_syn_times(backoff_scenario(1.0))
    if other:
        return _failed_row(name, math.nan, f"{other} replications neither recovered nor gave up (network_timeout)")
    m = BACKOFF_MEAN_OUTAGE
    probs = [math.exp(-t[k - 1] / m) - math.exp(-t[k] / m) for k in range(1, len(t))] + [math.exp(-t[-1] / m)]
    values = np.where(gave_up, len(t), attempts)  # give-up coded as K + 1
    return _chi_square_row(name, values, np.array(probs), 1,
                           "P(K=k) = e^(-t_(k-1)/m) - e^(-t_k/m), give-up coded K+1")


GE = {"model": "gilbert_elliott", "p": 0.05, "r": 0.3, "loss_good": 0.01, "loss_bad": 0.5}


def _ge_theory(p, r, lg, lb):
    pi_b = p / (p + r)
    pi = np.array([1 - pi_b, pi_b])
    loss = np.array([lg, lb])
    P = np.array([[1 - p, p], [r, 1 - r]])
    rate = float(pi @ loss)
    both = float(np.sum(pi[:, None] * loss[:, None] * P * loss[None, :]))
    return rate, rate / (rate - both)


def _ratio_interval(num, den):
    num, den = np.asarray(num, float), np.asarray(den, float)
    n = len(num)
    r = num.sum() / den.sum()
    se = math.sqrt(np.sum((num - r * den) ** 2) / (n - 1) / n) / den.mean()
    half = float(sps.t.isf(ALPHA / 2, n - 1)) * se
    return r, r - half, r + half


def case_ge_loss_rate(ctx: _Context) -> dict:
    name = "link: Gilbert-Elliott loss rate"
    fails, _, bad = ctx.link_failures("ge", GE, ctx.size("ge_reps"), SIZES["ge_frames"])
    rate, _ = _ge_theory(GE["p"], GE["r"], GE["loss_good"], GE["loss_bad"])
    expected = ctx.expected(name, rate)
    lost = [f.sum() for f in fails]
    sent = [f.sum() + len(f) for f in fails]
    est, lo, hi = _ratio_interval(lost, sent)
    row = _interval_row(name, expected, est, lo, hi,
                        f"pi_G(1-k)+pi_B(1-h), pi_B=p/(p+r) (netem gemodel p={GE['p']}, r={GE['r']}, 1-k={GE['loss_good']}, "
                        f"1-h={GE['loss_bad']}); lost/sent transmissions decoded from arrivals(); ratio estimator over "
                        f"{len(fails)} independent replications, delta-method t 99.9 % (false alarm ~0.1 %); "
                        f"{bad} undecodable delays")
    row["agree"] = row["agree"] and bad == 0
    return row


def _burst_lengths(lost: np.ndarray) -> np.ndarray:
    """Lengths of the maximal runs of True in `lost`."""
    edges = np.diff(np.concatenate([[0], lost.astype(np.int8), [0]]))
    return np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)


def case_ge_burst(ctx: _Context) -> dict:
    name = "link: Gilbert-Elliott mean loss-burst length"
    fails, _, bad = ctx.link_failures("ge", GE, ctx.size("ge_reps"), SIZES["ge_frames"])
    _, burst = _ge_theory(GE["p"], GE["r"], GE["loss_good"], GE["loss_bad"])
    expected = ctx.expected(name, burst)
    runs = [_burst_lengths(f > 0) for f in fails]  # frames whose first transmission was lost
    est, lo, hi = _ratio_interval([r.sum() for r in runs], [len(r) for r in runs])
    row = _interval_row(name, expected, est, lo, hi,
                        f"the chain steps once per frame's first transmission (README), so a burst is a run of "
                        f"consecutive frames whose first transmission was lost: mean P(lost)/P(kept then lost), "
                        f"P(both lost) = sum pi_s l_s P(s,s') l_s'; bad-state mean run 1/r={1 / GE['r']:.3g}; "
                        f"ratio estimator over {len(fails)} replications, delta-method t 99.9 % (false alarm ~0.1 %)")
    row["agree"] = row["agree"] and bad == 0
    return row


def case_rto_delay(ctx: _Context) -> dict:
    name = "link: RTO retransmission delay R p/(1-2p)"
    p, R = 0.1, 1.0
    n = ctx.size("rto")
    _, (delay,), bad = ctx.link_failures("rto", {"model": "bernoulli", "p": p}, 1, n)
    if bad:
        return _failed_row(name, R * p / (1 - 2 * p), f"{bad} delays are no sum of R, 2R, 4R, ... (or infinite)")
    expected = ctx.expected(name, R * p / (1 - 2 * p))
    est, lo, hi = stats.mean_interval(delay, CONFIDENCE)
    row = _interval_row(name, expected, est, lo, hi,
                        f"Bernoulli p={p}, R=max(SRTT+4 RTTVAR, rto_min)=1 s doubling (uncapped; 30 retries: "
                        f"truncation < 1e-12); finite variance since 4p<1; Student t 99.9 % (CLT, false alarm ~0.1 %); "
                        f"n={n}")
    return row


def _coverage_case(method: str):
    name = f"stats: {method} 95 % coverage at p=0.001, n=2000"
    interval = stats.wilson_interval if method == "wilson" else stats.clopper_pearson_interval

    def run(ctx: _Context) -> dict:
        p, n, conf = 0.001, 2000, 0.95
        xs = np.arange(0, 61)  # P(X > 60) < 1e-50
        covers = np.array([lo <= p <= hi for lo, hi in (interval(int(x), n, conf) for x in xs)])
        exact = float(np.sum(sps.binom.pmf(xs, n, p)[covers]))
        expected = ctx.expected(name, exact)
        reps = ctx.size("coverage")
        draws = np.random.default_rng(SEEDS[method]).binomial(n, p, reps)
        hits = int(covers[np.minimum(draws, 60)].sum())
        lo, hi = stats.clopper_pearson_interval(hits, reps, CONFIDENCE)
        guarantee = method == "wilson" or exact >= conf
        row = _interval_row(name, expected, hits / reps, lo, hi,
                            f"exact coverage sum_x Binom(x; n, p)[p in CI(x)] = {exact:.5f} vs nominal 0.95"
                            + ("" if method == "wilson" else " (Clopper-Pearson guarantees >= 0.95)")
                            + f"; {reps} simulated samples, Clopper-Pearson 99.9 % (false alarm <= 0.1 %)")
        row["agree"] = row["agree"] and guarantee
        return row

    return name, run


SPRT_TEST = stats.SPRT(p0=0.01, p1=0.05, alpha=0.05, beta=0.05)


def _simulate_sprt(sprt: stats.SPRT, p: float, runs: int, rng: np.random.Generator) -> dict:
    counts = {"accept_h0": 0, "accept_h1": 0}
    for _ in range(runs):
        failures, trials, decision = 0, 0, "continue"
        while decision == "continue":
            for bad in (rng.random(64) < p).tolist():
                trials += 1
                failures += int(bad)
                decision = sprt.update(failures, trials)
                if decision != "continue":
                    break
        counts[decision] += 1
    return counts


def _sprt_case(hypothesis: str):
    wrong = "accept_h1" if hypothesis == "h0" else "accept_h0"
    label = "alpha'" if hypothesis == "h0" else "beta'"
    name = f"stats: SPRT error rate {label} (p={'p0' if hypothesis == 'h0' else 'p1'})"

    def run(ctx: _Context) -> dict:
        s = SPRT_TEST
        p = s.p0 if hypothesis == "h0" else s.p1
        bound = s.alpha / (1 - s.beta) if hypothesis == "h0" else s.beta / (1 - s.alpha)
        exact = sprt_exact(s, p)
        expected = ctx.expected(name, exact[wrong])
        runs = ctx.size("sprt")
        rng = np.random.default_rng([SEEDS["sprt"], 0 if hypothesis == "h0" else 1])
        counts = _simulate_sprt(s, p, runs, rng)
        lo, hi = stats.clopper_pearson_interval(counts[wrong], runs, CONFIDENCE)
        row = _interval_row(name, expected, counts[wrong] / runs, lo, hi,
                            f"SPRT(p0={s.p0}, p1={s.p1}, alpha={s.alpha}, beta={s.beta}); exact rate by propagating "
                            f"undecided (failures, trials) states through SPRT.update (undecided mass "
                            f"{exact['undecided']:.1g}, ASN {exact['asn']:.4g}); Wald's bound {bound:.4g} "
                            f"{'holds' if exact[wrong] <= bound else 'VIOLATED'}; {runs} simulated tests, "
                            f"Clopper-Pearson 99.9 % (false alarm <= 0.1 %)")
        row["agree"] = row["agree"] and exact[wrong] <= bound
        return row

    return name, run


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[_Context], dict]


CASES: list[Case] = [
    Case(*_mean_case("resume", "constant")),
    Case("completion resume, constant outage: P(no interruption)", case_no_interruption),
    Case("completion resume, constant outage: interruptions ~ NegBin(N, e^(-l s))", case_interruption_counts),
    Case("completion resume, constant outage: law of (X - T)/c", case_completion_distribution),
    Case("downtime, constant outage: attempts - 1 ~ Geometric(e^(-l O))", case_constant_downtime),
    Case(*_mean_case("resume", "exponential")),
    Case("downtime, exponential outage: attempts - 1 ~ M/M/inf grid first passage", case_exponential_downtime),
    Case(*_mean_case("restart", "constant")),
    Case("completion restart, constant outage: restarts ~ Geometric0(e^(-l T))", case_restart_counts),
    Case("completion restart, constant outage: work lost per restart ~ Exp(l) | < T", case_restart_lost_work),
    Case(*_mean_case("restart", "exponential")),
    Case("backoff: P(give up after K attempts) = e^(-t_K/m)", case_backoff_give_up),
    Case("backoff: attempts until connected (or gave up)", case_backoff_attempts),
    Case("link: Gilbert-Elliott loss rate", case_ge_loss_rate),
    Case("link: Gilbert-Elliott mean loss-burst length", case_ge_burst),
    Case("link: RTO retransmission delay R p/(1-2p)", case_rto_delay),
    Case(*_coverage_case("wilson")),
    Case(*_coverage_case("clopper-pearson")),
    Case(*_sprt_case("h0")),
    Case(*_sprt_case("h1")),
]


# =============================================================================== entry points

def run_cases(quick: bool = False, *, only: list[str] | None = None,
              expected_overrides: dict[str, float] | None = None, workers: int = WORKERS) -> list[dict]:
    """Run the cases (all, or those named in `only`) and return one row per case: case, expected,
    estimate, lower, upper, agree, note. `expected_overrides` replaces a case's derived value (for
    tests showing that a wrong value is flagged)."""
    names = {c.name for c in CASES}
    unknown = set(only or ()) - names
    if unknown:
        raise ValueError(f"unknown case(s): {', '.join(sorted(unknown))}")
    ctx = _Context(quick, expected_overrides, workers)
    return [c.run(ctx) for c in CASES if only is None or c.name in only]


def format_row(row: dict) -> str:
    verdict = "agree   " if row["agree"] else "DISAGREE"
    return (f"{verdict} {row['case']}: expected {row['expected']:.6g}, estimate {row['estimate']:.6g} "
            f"[{row['lower']:.6g}, {row['upper']:.6g}] -- {row['note']}")


def main_validate(quick: bool = False) -> int:
    """Print one line per case; exit code 1 if any case disagrees with theory, else 0."""
    started = time.perf_counter()
    rows = run_cases(quick=quick)
    for row in rows:
        print(format_row(row), flush=True)
    bad = sum(not r["agree"] for r in rows)
    print(f"{len(rows) - bad}/{len(rows)} cases agree with theory ({'quick' if quick else 'full'} mode, "
          f"{time.perf_counter() - started:.0f} s; each test's false-alarm rate 0.1 %, "
          f"so <= {len(rows) * ALPHA:.1%} for the suite)")
    return 1 if bad else 0
