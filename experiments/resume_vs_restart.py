"""Resume against restart: what resuming from the last frame buys as disconnects become frequent.

Question. On the `text-interruption` stream (1,000 frames, about 20 s), how do the completion rate,
the median time to complete and the p99 recovery time of a client that resumes from its last frame
compare with one that restarts the response from scratch, from one disconnect a minute to one every
two seconds?

Method. `model.runner.sweep` over `client.strategy` = resume, restart x `disconnects.rate_scale` =
1, 2, 4, 8, 16, 32 (1 to 32 disconnects a minute in the `unstable` condition), `--streams` streams
per point, one seed for every point (common random numbers: both strategies see the same weather).
Per point: completion rate with a two-sided 95 % Clopper-Pearson interval; median completion time
(request to last frame) with an order-statistic interval, both over all streams (a stream that did
not complete, failed or censored at the 600 s horizon, counts as infinitely slow, as in the SLO
verdicts) and over the completed streams only (what the figure plots); p99 recovery time (break to
holding every frame the server had generated at the break; unrecovered disconnects as +inf) with an
order-statistic interval, over all disconnects of the point.

Reading the output. `resume_vs_restart.parquet` is tidy: one row per (strategy, rate_scale,
measure), with `disconnects_per_minute`, `statistic`, `estimate`, `lower`, `upper`, `n` (streams or
disconnects) and `method`. Times are seconds; +inf means "beyond what ended" (more than the stated
share never completed or never recovered); a NaN bound means the sample is too small for that
side. `completion_vs_disconnect_rate.png` (`model.figures.completion_vs_disconnect_rate`) shows the
completion rate and the median time of the completed streams against the disconnect rate. Under
restart, "recovery" needs the whole prefix regenerated, so its recovery time grows with how far into
the stream the break came; the restart stream also lives longer, so it meets more disconnects.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python experiments/resume_vs_restart.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd

from experiments import common
from model import figures, slo, sweep

NAME = "resume_vs_restart"
SCENARIO = "text-interruption"
STRATEGY, RATE = "client.strategy", "disconnects.rate_scale"
GRID = {STRATEGY: ["resume", "restart"], RATE: [1, 2, 4, 8, 16, 32]}


def measures(res, cfg) -> pd.DataFrame:
    """The tidy table: every point's completion rate, median completion time and p99 recovery
    time."""
    per_minute = cfg.network.condition(cfg.network.initial).disconnect_rate * 60
    conf = cfg.slo.confidence
    rows = []
    for point, part in common.points(res, GRID):
        s = part.streams
        key = {
            "strategy": point[STRATEGY],
            "rate_scale": float(point[RATE]),
            "disconnects_per_minute": float(point[RATE]) * per_minute,
        }
        k, n = slo.rate_counts(part)["completion_rate"]
        times = common.completion_times(s)
        done = times[s.outcome.to_numpy() == "completed"]
        rows += [
            {
                **key,
                "measure": "completion_rate",
                "population": "all streams",
                **common.rate(k, n, conf),
            },
            {
                **key,
                "measure": "completion_time",
                "population": "all streams",
                **common.quantile(times, 0.5, conf),
            },
            {
                **key,
                "measure": "completion_time",
                "population": "completed streams",
                **common.quantile(done, 0.5, conf),
            },
            {
                **key,
                "measure": "recovery_time",
                "population": "all disconnects",
                **common.quantile(slo.latency_samples(part)["recovery_time"], 0.99, conf),
            },
        ]
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    args = common.parse_args(NAME, __doc__, 1000, argv)
    cfg = common.scenario(SCENARIO, args)
    res = sweep(cfg, GRID, args.streams, args.seed, workers=args.workers, progress=args.progress)
    table = measures(res, cfg)
    common.write_table(table, args, NAME, common.provenance(args, [(cfg, args.streams)], grid=GRID))
    fig = figures.completion_vs_disconnect_rate(
        res.streams, RATE, cfg, strategy_path=STRATEGY, confidence=cfg.slo.confidence
    )
    common.write_figure(fig, args, "completion_vs_disconnect_rate")
    lines = [
        f"{SCENARIO}, {args.streams:,} streams per point; completion rate [95 % CP], median "
        "completion time over all streams, p99 recovery time over all disconnects:"
    ]
    for (strategy, scale), g in table.groupby(["strategy", "rate_scale"], sort=False):
        comp = g[g.measure == "completion_rate"].iloc[0]
        med = g[(g.measure == "completion_time") & (g.population == "all streams")].iloc[0]
        rec = g[g.measure == "recovery_time"].iloc[0]
        lines.append(
            f"  {strategy:7s} x{scale:<4g} ({comp.n:,} streams, {rec.n:,} disconnects): completed "
            f"{common.pct(comp.estimate)} [{common.pct(comp.lower)}, {common.pct(comp.upper)}], "
            f"median {common.seconds(med.estimate)}, p99 recovery {common.seconds(rec.estimate)}"
        )
    lines.append(fig.caption)
    return common.finish(args, lines)


if __name__ == "__main__":
    sys.exit(main())
