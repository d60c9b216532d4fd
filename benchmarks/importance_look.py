"""The importance-sampling look of a sized run, with the figures `midstream run` leaves out when the
look decides nothing (README "Importance sampling": the multi-stream scenarios' measurements).

`midstream run NAME --demonstrate --budget B --tilt auto` judges the scenario by crude Monte Carlo
on B - min(2000, B/4) sessions and then, if a rate verdict is still open, runs the rest under the
tilt (`sequential.complete_by_importance`). This script runs that second part alone, as the run
does when its crude part used its whole share (the sessions after the crude ones, the tilt chosen
from the same seed, judged at the demonstration's per-look confidence), and prints for the
per-session completion: the tilt, the sessions that failed under it, the effective adverse events
and Kish effective sample size, the estimate with its one-sided bound and the verdict, and the
failing sessions' weights by order of magnitude (the classes the estimate rests on).

    python benchmarks/importance_look.py concurrent-interruptions --budget 600 [--seed 1]
        [--tilt auto | --tilt 'disconnects.rate_scale=2;disconnects.outage_mix=0.5;...']
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from collections import Counter

import numpy as np

from model import runner, stats, tilting, weighted_slo
from model.scenarios import get_scenario
from model.sequential import importance_reserve


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("scenario")
    p.add_argument("--budget", type=int, required=True, help="the sized run's session budget")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--tilt", default="auto", help="'auto' or 'path=value;path=value'")
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args()

    cfg = get_scenario(args.scenario)
    done = args.budget - importance_reserve(args.budget)
    sessions = args.budget - done
    t0 = time.perf_counter()
    tilt = ["auto"] if args.tilt == "auto" else [args.tilt]
    tilted = tilting.with_tilt(cfg, tilt, args.seed, args.workers)
    t1 = time.perf_counter()
    res = runner.run(
        tilted, sessions, args.seed, workers=args.workers, progress=False, first_stream=done
    )
    t2 = time.perf_counter()
    confidence = stats.sequential_decision_confidence(2, cfg.slo.confidence)
    table = weighted_slo.verdicts(res, dataclasses.replace(cfg.slo, confidence=confidence))

    by_session = res.streams.groupby("session", sort=True)
    failed = by_session.outcome.agg(lambda o: bool((o != "completed").any())).to_numpy()
    w = by_session.weight.first().to_numpy()
    print(f"{args.scenario}: budget {args.budget}, seed {args.seed}: sessions {done}..")
    print(f"  {sessions} importance-sampled sessions under {tilted.tilt or '(no tilt)'}")
    print(f"  pilot {t1 - t0:.0f} s, sampled run {t2 - t1:.0f} s, confidence {confidence:.4g}")
    print(f"  sessions failed under the tilt: {int(failed.sum())}")
    for _, row in table[table.slo.isin(["completion_rate", "recovery_rate"])].iterrows():
        print(
            f"  {row.slo}: {row.status}, estimate {row.estimate:.17g}, bounds "
            f"[{row.lower:.17g}, {row.upper:.17g}], Kish ESS {row.ess:.3g}, relative error "
            f"{row.rel_error:.3g}: {row.method}"
        )
    if failed.any():
        p_fail = float(np.mean(w * failed))
        classes = Counter(math.floor(math.log10(x)) for x in w[failed] if x > 0)
        print(f"  P(a session fails) estimated {p_fail:.3g}")
        print(
            "  failing sessions by weight, 10^k: "
            + ", ".join(f"{k}: {n}" for k, n in sorted(classes.items(), reverse=True))
        )


if __name__ == "__main__":
    main()
