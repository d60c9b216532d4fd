"""Benchmark: importance sampling against crude Monte Carlo (issue 13's acceptance figures).

1. Variance at equal sessions, on a case with a known failure probability near 1e-5: P(at least 8
   disconnect events in a 20 s window) under a Poisson weather of one event per window (exact:
   the Poisson tail, 1.02e-5). The weather is drawn as the model draws it, tilted to 8 events per
   window, and weighted by `model.importance`. Crude Monte Carlo's variance per session is
   p (1 - p) (exact); importance sampling's is its sample variance in one run of --sessions.
2. Coverage: the weighted 95 % interval's hits of the exact value over --reps independent runs.
3. Agreement: weighted against unweighted estimates of the model on standard scenarios at moderate
   rates (both computable): each rate and p99 with its interval, and the z of their difference.

    python benchmarks/rare_events.py [--sessions 20000] [--reps 200] [--streams 2000] [--quick]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy import stats as sps

from model import apply_overrides, get_scenario, runner, slo
from model.validation import rare

AGREEMENT = {  # scenario -> (moderate-rate overrides, tilt)
    "timeout-and-retry": ([], "disconnects.rate_scale=3;disconnects.outage.scale=45"),
    "text-interruption": (
        ["disconnects.rate_scale=4", "disconnects.outage.scale=12"],
        "disconnects.rate_scale=8;disconnects.outage.scale=20",
    ),
    "network-degradation": ([], "disconnects.rate_scale=2"),
}


def variance_ratio(sessions: int) -> None:
    cfg = rare.window_scenario()
    exact = float(sps.poisson.sf(rare.AT_LEAST - 1, rare.WINDOW_RATE * rare.WINDOW))
    start = time.perf_counter()
    r = rare.window_estimate(cfg, 1, 0, sessions)
    per_session = r.se**2 * sessions
    crude = exact * (1 - exact)
    lo, hi = r.bounds(0.95)
    print(
        f"1. P(N >= {rare.AT_LEAST} in {rare.WINDOW:g} s) exact {exact:.4g}; importance sampling "
        f"({cfg.tilt}, {sessions} sessions, {time.perf_counter() - start:.0f} s): {r.estimate:.4g} "
        f"[{lo:.4g}, {hi:.4g}], relative error {r.relative_error:.3g}, effective events "
        f"{r.effective_events:.4g}, Kish ESS {r.ess:.4g}\n"
        f"   variance per session: crude p(1-p) = {crude:.4g}, importance sampling "
        f"{per_session:.4g}: ratio {crude / per_session:.4g}x; crude Monte Carlo would need "
        f"{crude / per_session * sessions:.3g} sessions for the same precision"
    )


def coverage(reps: int, sessions: int) -> None:
    cfg = rare.window_scenario()
    exact = float(sps.poisson.sf(rare.AT_LEAST - 1, rare.WINDOW_RATE * rare.WINDOW))
    start = time.perf_counter()
    estimates, hits, flagged = [], 0, 0
    for rep in range(reps):
        r = rare.window_estimate(cfg, 2, rep * sessions, sessions)
        lo, hi = r.bounds(0.95)
        hits += lo <= exact <= hi
        flagged += bool(r.degenerate)
        estimates.append(r.estimate)
    est = np.array(estimates)
    print(
        f"2. coverage of the 95 % interval: {hits}/{reps} = {hits / reps:.3f} "
        f"({sessions} sessions per run, {time.perf_counter() - start:.0f} s); mean estimate "
        f"{est.mean():.4g} (exact {exact:.4g}); variance across runs x sessions "
        f"{est.var(ddof=1) * sessions:.4g} vs crude {exact * (1 - exact):.4g}; "
        f"{flagged} runs flagged degenerate"
    )


def agreement(streams: int, workers: int | None) -> None:
    print(f"3. weighted vs unweighted estimates ({streams} sessions each, seeds 1 and 2):")
    for name, (overrides, tilt) in AGREEMENT.items():
        cfg = apply_overrides(get_scenario(name), overrides)
        start = time.perf_counter()
        crude = slo.estimates(runner.run(cfg, streams, 1, workers=workers, progress=False))
        tilted = apply_overrides(cfg, {"tilt": tilt})
        weighted = slo.estimates(runner.run(tilted, streams, 2, workers=workers, progress=False))
        print(
            f"   {name} {' '.join(overrides)} | tilt {tilt} ({time.perf_counter() - start:.0f} s)"
        )
        crude = crude[crude.method != "wilson"]
        for row in weighted.itertuples():
            if row.statistic not in ("rate", "p99"):
                continue
            c = crude[(crude.measure == row.measure) & (crude.statistic == row.statistic)]
            if c.empty or not np.isfinite(row.estimate):
                continue
            c = c.iloc[0]
            z = _z(c, row)
            print(
                f"     {row.measure:22s} {row.statistic:5s} crude {c.estimate:.5g} "
                f"[{c.lower:.5g}, {c.upper:.5g}]  weighted {row.estimate:.5g} "
                f"[{row.lower:.5g}, {row.upper:.5g}]  z {z:+.2f}"
                + ("" if "(" not in row.method else "  (weights flagged)")
            )


def _z(crude, weighted) -> float:
    """The difference over the combined half-widths (as standard errors of each side)."""
    z95 = 1.959964
    se = math.hypot(
        (crude.upper - crude.lower) / (2 * z95), (weighted.upper - weighted.lower) / (2 * z95)
    )
    return (weighted.estimate - crude.estimate) / se if se > 0 else 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=20_000)
    p.add_argument("--reps", type=int, default=200)
    p.add_argument("--rep-sessions", type=int, default=2000)
    p.add_argument("--streams", type=int, default=2000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = p.parse_args()
    if args.quick:
        args.sessions, args.reps, args.rep_sessions, args.streams = 2000, 20, 500, 200
    variance_ratio(args.sessions)
    coverage(args.reps, args.rep_sessions)
    agreement(args.streams, args.workers)


if __name__ == "__main__":
    main()
