"""Rare events by importance sampling, against exact answers (README "Importance sampling").

- Poisson weather: P(at least K disconnect events in a window of W s) when events arrive at rate
  l: the Poisson tail P(N >= K), N ~ Poisson(l W) (about 1e-5 here). The weather is drawn as the
  model draws it, under a tilt of rate_scale = K / (l W) (the tail's exponential tilt: the mean
  moved to K), and weighted by `model.importance` up to the window's end (a fixed stopping time).
- One long outage: P(some disconnect's outage is longer than theta within W s) for Poisson events
  at rate l with exponential outages of mean s: such events are a thinned Poisson process, so
  P = 1 - exp(-l W e^(-theta/s)) (about 1.6e-6 here). The weather is drawn under the one-shift
  form of the defensive shifted mixture `--tilt auto` adds for such failures (`model.tilting`):
  with probability 1/(1 + l W) an outage is shifted by SAFETY x theta, at the plain-neutral rate
  until the first shifted outage and the scenario's rate after it (`disconnects.shift_once`;
  `--tilt auto` also refits the shift from a pilot).
- Its weighted 95 % interval's coverage over independent repetitions (the central-limit interval
  of `model.weighted`), against the nominal 0.95.
- Restart (Kulkarni, Nicola & Trivedi 1987): the probability that a restarted stream is still
  unfinished at a deadline d, with Poisson(l) disconnects, work T and constant outages O (the
  completion-time special case of `validation.scenarios`). Its completion time is
  X = T + sum_{i<=M} (U_i + c K_i): M ~ Geometric0(e^(-l T)) restarts, U_i ~ Exp(l) given < T the
  work lost, K_i ~ Geometric(e^(-l O)) connection attempts each taking c = O + guard (the cases
  above check each piece). P(X > d) is computed by numerical convolution on a fine grid (cell
  masses at cell starts, step `STEP`: halving it moves the answer by 0.1 %) and compared with the
  importance-sampling estimate of the model under a tilted disconnect rate, each session weighted
  up to its end. A rate tilt is a poor change of measure for this event (late streams are those
  whose tries break just before finishing, not those with more disconnects: at d = 150 s, where
  P = 8e-6, the weights degenerate), so the case sits at d = 80 s (P = 2.5e-3), where it checks
  that the weights are exact through the whole model, not the efficiency.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import stats as sps

from model import importance, runner, tilting, weighted
from model.config import Scenario, apply_overrides
from model.records import NetworkRecord
from model.simulation import session_weather
from model.validation.rows import CONFIDENCE, interval_row
from model.validation.scenarios import GUARD, OUTAGE, RATE, WORK, completion_scenario

WINDOW = 20.0  # W, s
WINDOW_RATE = 1 / WINDOW  # l: one event per window on average
AT_LEAST = 8  # K: P(N >= 8) = 1.02e-5 for Poisson(1)
LONG = 20.0  # theta, s: P(an outage > 20 s in the window) = 1.6e-6 at outages of mean 1.5 s
DEADLINE = 80.0  # d, s: P(restarted stream unfinished) = 2.5e-3
RESTART_TILT = 1.5  # rate_scale of the restart case's tilt
STEP = 0.002  # grid of the numerical convolution, s
SEEDS = {"poisson": 51, "coverage": 52, "restart": 53, "outage": 54}
SIZES = {"poisson": (2000, 20000), "coverage_reps": (40, 400), "coverage_n": 500}
SIZES["outage"] = (2000, 20000)
SIZES["restart"] = (800, 10000)


def _size(ctx, name: str) -> int:
    s = SIZES[name]
    return s if isinstance(s, int) else s[0 if ctx.quick else 1]


# ---------------------------------------------------------------- the Poisson weather


def window_scenario() -> Scenario:
    """A steady weather (no condition changes) with Poisson events at WINDOW_RATE, tilted."""
    return apply_overrides(
        Scenario(name="validate-window"),
        {
            "network.initial": "unstable",
            "network.unstable.disconnect_rate": WINDOW_RATE,
            "network.unstable.mean_sojourn": math.inf,
            "horizon": WINDOW,
            "tilt": f"disconnects.rate_scale={AT_LEAST / (WINDOW_RATE * WINDOW):g}",
        },
    )


def weather_estimate(
    cfg: Scenario, seed: int, first: int, n: int, event: Callable[[NetworkRecord], bool]
) -> weighted.WeightedRate:
    """Importance-sampling estimate of P(event(weather on [0, W])) from the weathers of sessions
    first .. first+n-1 of `cfg` (drawn under its tilt), each weighted to W (a fixed end)."""
    w, hit = np.empty(n), np.empty(n)
    for j in range(n):
        weather = session_weather(cfg, seed, first + j)
        w[j] = importance.weight(cfg, weather, WINDOW)
        hit[j] = event(weather)
    return weighted.weighted_rate(hit, np.ones(n), w, known_trials=1.0)


def window_estimate(cfg: Scenario, seed: int, first: int, n: int) -> weighted.WeightedRate:
    """Importance-sampling estimate of P(N(0, W) >= K) from sessions first .. first+n-1."""
    return weather_estimate(
        cfg, seed, first, n, lambda w: sum(e.time <= WINDOW for e in w.events) >= AT_LEAST
    )


def long_outage_scenario() -> Scenario:
    """The window's steady weather (outages exponential, mean 1.5 s) under the shifted mixture
    `--tilt auto` adds: a share 1/(1 + Lambda) = 1/2 of the outages shifted by SAFETY x LONG,
    at the plain-neutral rate (x2) until the first shifted outage and the scenario's after it."""
    share = 1 / (1 + WINDOW_RATE * WINDOW)
    return apply_overrides(
        window_scenario(),
        {
            "tilt": importance.tilt_text(
                {
                    "disconnects.rate_scale": 1 / (1 - share),
                    "disconnects.outage_mix": share,
                    "disconnects.outage_shift": tilting.SAFETY * LONG,
                    "disconnects.shift_once": True,
                    "disconnects.after_shift_rate": 1 - share,
                }
            )
        },
    )


def long_outage_exact(cfg: Scenario) -> float:
    """P(an outage longer than LONG within W): 1 - exp(-l W e^(-LONG/s)), exponential outages."""
    mean = cfg.disconnects.outage.scale
    return -math.expm1(-WINDOW_RATE * WINDOW * math.exp(-LONG / mean))


def long_outage_estimate(cfg: Scenario, seed: int, first: int, n: int) -> weighted.WeightedRate:
    """Importance-sampling estimate of P(an outage longer than LONG within W)."""
    return weather_estimate(
        cfg,
        seed,
        first,
        n,
        lambda w: any(e.time <= WINDOW and e.outage > LONG for e in w.events),
    )


def _tail_row(name: str, expected: float, exact: float, cfg, r, n: int, law: str) -> dict:
    """A row for a weighted estimate of a small probability, with its efficiency against crude
    Monte Carlo (variance per session p(1 - p))."""
    lo, hi = r.bounds(CONFIDENCE)
    row = interval_row(
        name,
        expected,
        r.estimate,
        lo,
        hi,
        f"{law}; {n} weathers drawn under {cfg.tilt}, weighted to W; CLT 99.9 % interval "
        f"(false alarm ~0.1 %); ESS {r.ess:.4g}, effective events {r.effective_events:.4g}, "
        f"relative error {r.relative_error:.2g}; variance per session "
        f"{exact * (1 - exact) / (r.se**2 * n):.3g}x below crude Monte Carlo's"
        + (f"; DEGENERATE: {r.degenerate}" if r.degenerate else ""),
    )
    row["agree"] = row["agree"] and not r.degenerate
    return row


def case_poisson_window(ctx) -> dict:
    name = f"importance: P(at least {AT_LEAST} disconnects in {WINDOW:g} s), Poisson weather"
    exact = float(sps.poisson.sf(AT_LEAST - 1, WINDOW_RATE * WINDOW))
    cfg, n = window_scenario(), _size(ctx, "poisson")
    r = window_estimate(cfg, SEEDS["poisson"], 0, n)
    law = f"Poisson(l W = {WINDOW_RATE * WINDOW:g}) tail"
    return _tail_row(name, ctx.expected(name, exact), exact, cfg, r, n, law)


def case_long_outage(ctx) -> dict:
    name = f"importance: P(an outage longer than {LONG:g} s in {WINDOW:g} s), shifted mixture"
    cfg, n = long_outage_scenario(), _size(ctx, "outage")
    exact = long_outage_exact(cfg)
    r = long_outage_estimate(cfg, SEEDS["outage"], 0, n)
    law = (
        f"1 - exp(-l W e^(-theta/s)), l W = {WINDOW_RATE * WINDOW:g}, theta = {LONG:g} s, "
        f"s = {cfg.disconnects.outage.scale:g} s"
    )
    return _tail_row(name, ctx.expected(name, exact), exact, cfg, r, n, law)


def case_weighted_coverage(ctx) -> dict:
    name = "importance: weighted 95 % interval coverage (Poisson tail)"
    exact = float(sps.poisson.sf(AT_LEAST - 1, WINDOW_RATE * WINDOW))
    expected = ctx.expected(name, 0.95)
    cfg = window_scenario()
    reps, n = _size(ctx, "coverage_reps"), SIZES["coverage_n"]
    hits = 0
    for rep in range(reps):
        r = window_estimate(cfg, SEEDS["coverage"], rep * n, n)
        lo, hi = r.bounds(0.95)
        hits += lo <= exact <= hi
    lo, hi = _cp(hits, reps)
    return interval_row(
        name,
        expected,
        hits / reps,
        lo,
        hi,
        f"{reps} independent estimates of P(N >= {AT_LEAST}) = {exact:.4g}, {n} sessions each; "
        "Clopper-Pearson 99.9 % interval on the coverage (false alarm <= 0.1 %)",
    )


def _cp(k: int, n: int) -> tuple[float, float]:
    from model import stats

    return stats.clopper_pearson_interval(k, n, CONFIDENCE)


# ---------------------------------------------------------------- restart, KNT


def restart_scenario() -> Scenario:
    """The restart special case with few big frames (the work, T, is unchanged: for a restart
    only the time it takes matters), tilted."""
    base = completion_scenario("restart", "constant")
    return apply_overrides(
        base,
        {
            "content.frames": 50,
            "content.frame_bytes": 20_000,
            "tilt": f"disconnects.rate_scale={RESTART_TILT:g}",
        },
    )


def restart_unfinished(deadline: float, step: float = STEP, mmax: int = 80) -> float:
    """P(X > deadline) for X = T + sum_{i<=M} (U_i + c K_i) (module docstring), by convolution of
    cell masses on a grid of `step` s."""
    p_try = math.exp(-RATE * WORK)  # a try completes
    q = math.exp(-RATE * OUTAGE)  # an attempt finds the network up
    c = OUTAGE + GUARD
    span = deadline - WORK
    cells = int(math.ceil(span / step)) + 1  # (1 - e^(-l T))^80 < 1e-15: mmax = 80 is plenty
    edges = np.arange(cells + 1) * step
    cdf_u = -np.expm1(-RATE * np.minimum(edges, WORK)) / -math.expm1(-RATE * WORK)
    lost = np.diff(cdf_u)  # U's mass in each cell [j h, (j+1) h)
    y = np.zeros(cells)
    k = np.arange(1, int(span / c) + 2)
    for kk, pk in zip(k, q * (1 - q) ** (k - 1)):
        shift = int(round(kk * c / step))
        if shift < cells:
            y[shift:] += pk * lost[: cells - shift]
    size = 1 << int(math.ceil(math.log2(2 * cells)))  # no wrap-around: linear convolution
    fy = np.fft.rfft(y, size)
    total, sm = 0.0, np.eye(1, cells, 0)[0]  # S_0 = 0
    for m in range(1, mmax + 1):
        # mass beyond the span never comes back (every Y >= 0): keep [0, span] only
        sm = np.fft.irfft(np.fft.rfft(sm, size) * fy, size)[:cells]
        total += p_try * (1 - p_try) ** m * max(0.0, 1 - float(sm.sum()))
    return total + (1 - p_try) ** (mmax + 1)


def case_restart_deadline(ctx) -> dict:
    name = f"importance: restarted stream unfinished at {DEADLINE:g} s (Kulkarni-Nicola-Trivedi)"
    expected = ctx.expected(name, restart_unfinished(DEADLINE))
    cfg = restart_scenario()
    n = _size(ctx, "restart")
    res = runner.run(cfg, n, SEEDS["restart"], workers=ctx.workers, progress=False)
    s = res.streams
    late = (s.outcome != "completed") | (s.completion_time - s.start_time > DEADLINE)
    r = weighted.weighted_rate(late.to_numpy(), np.ones(n), s.weight.to_numpy(), 1.0)
    lo, hi = r.bounds(CONFIDENCE)
    row = interval_row(
        name,
        expected,
        r.estimate,
        lo,
        hi,
        f"l={RATE:g}/s, T={WORK:g} s, O={OUTAGE:g} s; exact by convolution (grid {STEP:g} s); "
        f"{n} model sessions under {cfg.tilt}, weighted to their end; CLT 99.9 % interval "
        f"(false alarm ~0.1 %); ESS {r.ess:.4g}, effective events {r.effective_events:.4g}, "
        f"relative error {r.relative_error:.2g}"
        + (f" (for a verdict: {r.degenerate})" if r.degenerate else ""),
    )
    return row


CASES = [
    (
        f"importance: P(at least {AT_LEAST} disconnects in {WINDOW:g} s), Poisson weather",
        case_poisson_window,
    ),
    (
        f"importance: P(an outage longer than {LONG:g} s in {WINDOW:g} s), shifted mixture",
        case_long_outage,
    ),
    ("importance: weighted 95 % interval coverage (Poisson tail)", case_weighted_coverage),
    (
        f"importance: restarted stream unfinished at {DEADLINE:g} s (Kulkarni-Nicola-Trivedi)",
        case_restart_deadline,
    ),
]
