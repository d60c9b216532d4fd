"""Backoff policies: no, full, equal and decorrelated jitter, and the tails they give one client.

Question. After a drop, how long until the client is connected again and caught up, in the tail
(p50, p90, p99, p99.9), how many attempts does it spend, and how often does it give up, under each
jitter policy of an exponential backoff (`client.backoff.jitter`)?

Why these scenarios. The backoff only decides *when* the next attempt starts; its cost is the lag
between the end of an outage and the next attempt, and, when attempts or time are limited, whether
the client gives up first. With the default 1.5 s outages the first attempt is immediate and its own
SYN retries (at 0, 1, 3 s within a 4 s connect timeout) outlast most outages, so the policy hardly
matters; it matters when outages are as long as several backoff steps. So the study runs two:
- `timeout-and-retry` as catalogued: 30 s mean outages against at most 6 attempts within 45 s
  (cap 15 s). The attempt limit binds before the deadline, so a policy whose waits are shorter
  spends its attempts sooner and gives up more often: the give-up rate is the story, and with a
  third of disconnects given up every tail from p90 on is +inf ("never").
- `long-outages`: `text-interruption` with 10 s mean outages and three times the disconnect rate
  (`disconnects.outage.scale=10`, `disconnects.rate_scale=3`) and the default backoff (base 0.5 s,
  cap 10 s, 10 attempts within 60 s): most disconnects recover, so the tail of the lag is visible.

Method. `model.runner.sweep` over `client.backoff.jitter` = none, full, equal, decorrelated, with
`--streams` streams per policy and one seed (common random numbers: every policy sees the same
outages; only the waits differ). Quantiles of the reconnect time (break to connected) and the
recovery time (break to holding every frame generated before the break) come with distribution-free
order-statistic intervals (`model.stats.quantile_interval`), over two populations: all disconnects,
with the ones never recovered as +inf (the SLO convention), and the recovered ones only (the
conditional tail: how slow a success is). Rates (give-up, stream completion) carry Clopper-Pearson
intervals, means Student t. The intervals treat a stream's successive disconnects as independent,
which they are not quite (a later disconnect can extend the same outage).

Not modelled: the thundering herd. Each session is one client with its own server and path, and the
server has no limit on connection attempts, so what jitter is mostly for in practice, spreading many
clients' reconnects after a shared outage so they do not arrive together, cannot show here. This
study measures only what a policy costs the individual client.

Reading the output. `backoff_policies.parquet` is tidy: one row per (scenario, jitter, measure,
population, statistic) with `estimate`, `lower`, `upper`, `n`, `method`. Measures: `reconnect_time`
and `recovery_time` (p50, p90, p99, p99.9; seconds, +inf = never; a NaN bound = too few
observations for that side), `attempts` (mean, p50, p99, max per disconnect), `backoff_wait` (mean
seconds waited per disconnect), `give_up_rate` (share of disconnects ending in network_timeout) and
`completion_rate` (share of streams). `tails.png`: the share of disconnects not yet reconnected /
recovered t seconds after the break, one line per policy (log scale; a line's floor is the share
never recovered).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python experiments/backoff_policies.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from experiments import common
from model import slo, sweep

NAME = "backoff_policies"
JITTER = "client.backoff.jitter"
GRID = {JITTER: ["none", "full", "equal", "decorrelated"]}
QUANTILES = (0.5, 0.9, 0.99, 0.999)
SCENARIOS = {  # label -> (catalogued scenario, the study's overrides)
    "timeout-and-retry": ("timeout-and-retry", {}),
    "long-outages": (
        "text-interruption",
        {"disconnects.outage.scale": 10.0, "disconnects.rate_scale": 3.0},
    ),
}
TIMES = ("reconnect_time", "recovery_time")
COLOURS = {"none": "#636363", "full": "#2171b5", "equal": "#31a354", "decorrelated": "#d94801"}


def measures(label: str, res, conf: float) -> pd.DataFrame:
    rows = []
    for point, part in common.points(res, GRID):
        d = part.disconnects
        key = {"scenario": label, "jitter": point[JITTER]}
        every = slo.latency_samples(part)
        recovered = d[d.outcome == "recovered"]
        for measure in TIMES:
            for population, sample in (
                ("all disconnects", every[measure]),
                ("recovered", recovered[measure].astype(float).to_numpy()),
            ):
                rows += [
                    {
                        **key,
                        "measure": measure,
                        "population": population,
                        **common.quantile(sample, q, conf),
                    }
                    for q in QUANTILES
                ]
        attempts = d.attempts.astype(float).to_numpy()
        rows += [
            {
                **key,
                "measure": "attempts",
                "population": "all disconnects",
                **common.mean(attempts, conf),
            },
            *(
                {
                    **key,
                    "measure": "attempts",
                    "population": "all disconnects",
                    **common.quantile(attempts, q, conf),
                }
                for q in (0.5, 0.99)
            ),
            {
                **key,
                "measure": "attempts",
                "population": "all disconnects",
                "statistic": "max",
                "estimate": attempts.max(initial=np.nan),
                "lower": np.nan,
                "upper": np.nan,
                "n": len(attempts),
                "method": "sample maximum",
            },
            {
                **key,
                "measure": "backoff_wait",
                "population": "all disconnects",
                **common.mean(d.backoff_wait.astype(float), conf),
            },
            {
                **key,
                "measure": "give_up_rate",
                "population": "all disconnects",
                **common.rate(int((d.outcome == "network_timeout").sum()), len(d), conf),
            },
            {
                **key,
                "measure": "completion_rate",
                "population": "all streams",
                **common.rate(*slo.rate_counts(part)["completion_rate"], conf),
            },
        ]
    return pd.DataFrame(rows)


def tails_figure(results: dict) -> Figure:
    """Survival curves P(time > t) of reconnect and recovery time, per scenario (rows) and
    policy."""
    fig = Figure(figsize=(7.0, 2.6 * len(results)), layout="constrained")
    axes = fig.subplots(len(results), 2, squeeze=False)
    notes = []
    for row, (label, res) in zip(axes, results.items()):
        for ax, measure in zip(row, TIMES):
            samples = {
                p[JITTER]: np.sort(
                    part.disconnects[measure].astype(float).fillna(np.inf).to_numpy()
                )
                for p, part in common.points(res, GRID)
            }
            right = (
                max((x[np.isfinite(x)].max(initial=0.0) for x in samples.values()), default=0.0)
                * 1.05
            )
            for jitter, x in samples.items():
                if len(x) == 0:
                    continue
                finite = x[np.isfinite(x)]
                never = 1.0 - len(finite) / len(x)
                xs = np.concatenate(
                    [[0.0], finite, [right]]
                )  # the share slower than t, as a step down
                ys = np.concatenate([[1.0], 1.0 - np.arange(1, len(finite) + 1) / len(x), [never]])
                ys[ys <= 0] = np.nan  # a log scale has no place for 0
                ax.step(xs, ys, where="post", lw=1.3, color=COLOURS[jitter], label=jitter)
            ax.set_yscale("log")
            ax.set_xlim(left=0)
            ax.grid(alpha=0.3, which="both")
            ax.set(
                xlabel=f"{measure.replace('_', ' ')} (s)",
                ylabel="share of disconnects slower",
                title=f"{label}: {measure.split('_')[0]}",
            )
        row[0].legend(title="jitter", fontsize="small", loc="lower left")
        give_up = {
            p[JITTER]: float((part.disconnects.outcome == "network_timeout").mean())
            for p, part in common.points(res, GRID)
            if len(part.disconnects)
        }
        if give_up:
            notes.append(
                f"{label}: " + ", ".join(f"{j} {common.pct(v)}" for j, v in give_up.items())
            )
    fig.caption = (
        "Share of disconnects not yet reconnected (left) or caught up (right) t seconds after the "
        "break, per jitter policy (log scale); each curve levels off at the share that never "
        "recovered. Given up (network_timeout): " + "; ".join(notes) + "."
    )
    return fig


def main(argv: list[str] | None = None) -> int:
    args = common.parse_args(
        NAME, __doc__, 8000, argv, streams_help="streams per policy and scenario"
    )
    tables, results, runs = [], {}, []
    for label, (base, extra) in SCENARIOS.items():
        cfg = common.scenario(base, args, extra)
        res = sweep(
            cfg, GRID, args.streams, args.seed, workers=args.workers, progress=args.progress
        )
        tables.append(measures(label, res, cfg.slo.confidence))
        results[label] = res
        runs.append((cfg, args.streams))
    table = pd.concat(tables, ignore_index=True)
    common.write_table(
        table,
        args,
        NAME,
        common.provenance(
            args,
            runs,
            grid=GRID,
            scenarios={k: {"scenario": b, "overrides": e} for k, (b, e) in SCENARIOS.items()},
        ),
    )
    fig = tails_figure(results)
    common.write_figure(fig, args, "tails")

    def pick(g, measure, population, statistic):
        r = g[(g.measure == measure) & (g.population == population) & (g.statistic == statistic)]
        return r.iloc[0] if len(r) else None

    lines = [
        f"{args.streams:,} streams per policy; recovery time of recovered disconnects p50 / p99 / "
        "p99.9 [p99.9 interval], attempts mean, give-up rate [95 % CP], completion rate:"
    ]
    for (label, jitter), g in table.groupby(["scenario", "jitter"], sort=False):
        q = [pick(g, "recovery_time", "recovered", s) for s in ("p50", "p99", "p99.9")]
        att, gu, comp = (
            pick(g, "attempts", "all disconnects", "mean"),
            pick(g, "give_up_rate", "all disconnects", "rate"),
            pick(g, "completion_rate", "all streams", "rate"),
        )
        lines.append(
            f"  {label:17s} {jitter:12s} ({gu.n:,} disconnects) "
            + " / ".join(common.seconds(r.estimate) for r in q)
            + f" [{common.seconds(q[2].lower)}, {common.seconds(q[2].upper)}], attempts "
            f"{att.estimate:.2f}, gave up {common.pct(gu.estimate)} [{common.pct(gu.lower)}, "
            f"{common.pct(gu.upper)}], completed {common.pct(comp.estimate)}"
        )
    lines.append(fig.caption)
    return common.finish(args, lines)


if __name__ == "__main__":
    sys.exit(main())
