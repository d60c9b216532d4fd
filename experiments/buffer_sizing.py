"""Replay-buffer sizing: how big must the per-stream buffer be, and should a full one block or
evict?

Question. For a server replay buffer of 2 KiB to 1 MiB per stream (`server.buffer_bytes`), full
buffers either pausing generation (`server.when_full=block`, SignalR) or dropping the oldest frames
(`evict`): how many streams complete, how many die because a resume asked for an evicted frame
(`resume_window_exceeded`), how slow is the p99 stream, and what does the server hold at p99?

Method. `model.runner.sweep` over `server.when_full` x `server.buffer_bytes` (2^11 ... 2^20 bytes),
`--streams` streams per point, one seed for every point (common random numbers), on two scenarios:
- `text-interruption`: an LLM-style stream, 1,000 frames of about 48 B generated at 50 frames/s
  (48 KB in all, about 2.4 KB/s) with cumulative acks every second: the buffer only fills when the
  client is away, or, below about two ack intervals' worth, in normal streaming.
- `large-response`: a 2 MiB body (128 frames of 16 KiB) that exists up front and is sent at link
  speed, cut every 3 s on average: the unacked backlog reaches the whole buffer within one ack
  interval, so every size in the range matters.
Per point: completion rate and resume_window_exceeded rate (share of streams) with two-sided 95 %
Clopper-Pearson intervals; p99 completion time (request to last frame, a stream that did not
complete as +inf) and p99 server memory (the session's peak replay-buffer bytes; one stream per
session here) with order-statistic intervals.

Reading the output. `buffer_sizing.parquet` is tidy: one row per (scenario, when_full,
buffer_bytes, measure) with `statistic`, `estimate`, `lower`, `upper`, `n`, `method` (times in
seconds, +inf = more than 1 % never completed; memory in bytes). `buffer_sizing.png`: one row of
panels per scenario, completion rate, p99 completion time and p99 memory against the buffer size,
one line per policy. Memory is the replay buffer only: frames generated but not yet sent (the socket
send queue) are not counted, which matters for `evict` with a body generated faster than the link.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python experiments/buffer_sizing.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure

from experiments import common
from model import slo, sweep

NAME = "buffer_sizing"
SCENARIOS = ("text-interruption", "large-response")
WHEN_FULL, SIZE = "server.when_full", "server.buffer_bytes"
GRID = {WHEN_FULL: ["block", "evict"], SIZE: [2**k for k in range(11, 21)]}
COLOURS = {"block": "#2171b5", "evict": "#cb181d"}
STYLES = {"block": dict(marker="o", ls="-"), "evict": dict(marker="s", ls="--", mfc="white")}
PLAIN = ticker.FuncFormatter(lambda v, _: f"{v:g}")


def measures(name: str, res, conf: float) -> pd.DataFrame:
    rows = []
    for point, part in common.points(res, GRID):
        s = part.streams
        key = {"scenario": name, "when_full": point[WHEN_FULL], "buffer_bytes": int(point[SIZE])}
        n = len(s)
        rows += [
            {
                **key,
                "measure": "completion_rate",
                **common.rate(*slo.rate_counts(part)["completion_rate"], conf),
            },
            {
                **key,
                "measure": "resume_window_exceeded_rate",
                **common.rate(int((s.error == "resume_window_exceeded").sum()), n, conf),
            },
            {
                **key,
                "measure": "completion_time",
                **common.quantile(common.completion_times(s), 0.99, conf),
            },
            {
                **key,
                "measure": "server_memory_bytes",
                **common.quantile(slo.latency_samples(part)["buffer_bytes"], 0.99, conf),
            },
        ]
    return pd.DataFrame(rows)


PANELS = (
    ("completion_rate", "completion rate"),
    ("completion_time", "p99 completion time (s)"),
    ("server_memory_bytes", "p99 server memory (kB)"),
)


def figure(table: pd.DataFrame) -> Figure:
    names = list(dict.fromkeys(table.scenario))
    fig = Figure(figsize=(7.5, 2.5 * len(names)), layout="constrained")
    axes = fig.subplots(len(names), 3, squeeze=False)
    notes = []
    for row, name in zip(axes, names):
        for ax, (measure, label) in zip(row, PANELS):
            scale = 1e3 if measure == "server_memory_bytes" else 1.0
            for policy in GRID[WHEN_FULL]:
                g = table[
                    (table.scenario == name)
                    & (table.when_full == policy)
                    & (table.measure == measure)
                ]
                x, y = g.buffer_bytes / 1024, g.estimate.to_numpy(dtype=float) / scale
                shown = np.isfinite(y) & (
                    (y > 0) | (measure == "completion_rate")
                )  # log axes: no 0, no inf
                ax.plot(
                    x,
                    np.where(shown, y, np.nan),
                    **STYLES[policy],
                    ms=3.5,
                    color=COLOURS[policy],
                    label=policy,
                )
                if measure == "completion_rate":
                    ax.fill_between(x, g.lower, g.upper, color=COLOURS[policy], alpha=0.2, lw=0)
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(PLAIN)
            ax.grid(alpha=0.3)
            ax.set_xlabel("buffer per stream (KiB)", fontsize="small")
            ax.set_ylabel(label, fontsize="small")
            ax.set_title(name, fontsize="small")
        row[0].set_ylim(-0.02, 1.02)
        row[0].legend(title="when full", fontsize="x-small")
        row[2].set_yscale("log")
        row[2].yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        row[2].yaxis.set_major_formatter(PLAIN)
        row[2].yaxis.set_minor_formatter(ticker.NullFormatter())
        for policy in GRID[WHEN_FULL]:
            g = table[
                (table.scenario == name)
                & (table.when_full == policy)
                & (table.measure == "completion_rate")
            ]
            ok = (
                (g.sort_values("buffer_bytes").estimate >= 1.0)
                .to_numpy()[::-1]
                .cumprod()[::-1]
                .astype(bool)
            )
            smallest = g.sort_values("buffer_bytes").buffer_bytes[
                ok
            ]  # from here up, every stream completed
            notes.append(
                f"{name}, {policy}: "
                + (
                    f"every stream completed at {int(smallest.min()) // 1024} KiB and more"
                    if len(smallest)
                    else f"at best {common.pct(g.estimate.max())} completed"
                )
            )
    empty = table[(table.measure == "server_memory_bytes") & (table.estimate == 0)]
    if len(empty):
        notes.append(
            f"p99 memory of 0 B (not drawn) at {len(empty)} point(s), e.g. "
            f"{empty.scenario.iloc[0]} {empty.when_full.iloc[0]} "
            f"{int(empty.buffer_bytes.iloc[0]) // 1024} KiB"
        )
    fig.caption = (
        "Completion rate (95 % Clopper-Pearson bands), p99 completion time (missing points: more "
        "than 1 % never completed, so the p99 is infinite) and p99 replay-buffer memory against "
        "the buffer size (block: solid, evict: dashed). " + "; ".join(notes) + "."
    )
    return fig


def main(argv: list[str] | None = None) -> int:
    args = common.parse_args(NAME, __doc__, 1000, argv)
    tables, runs = [], []
    for name in SCENARIOS:
        cfg = common.scenario(name, args)
        res = sweep(
            cfg, GRID, args.streams, args.seed, workers=args.workers, progress=args.progress
        )
        tables.append(measures(name, res, cfg.slo.confidence))
        runs.append((cfg, args.streams))
    table = pd.concat(tables, ignore_index=True)
    common.write_table(table, args, NAME, common.provenance(args, runs, grid=GRID))
    fig = figure(table)
    common.write_figure(fig, args, NAME)
    lines = [
        f"{args.streams:,} streams per point; completion rate, resume_window_exceeded rate, p99 "
        "completion time, p99 server memory:"
    ]
    wide = table.pivot_table(
        index=["scenario", "when_full", "buffer_bytes"],
        columns="measure",
        values="estimate",
        sort=False,
    )
    for (name, policy, size), r in wide.iterrows():
        lines.append(
            f"  {name:17s} {policy:5s} {size / 1024:>6g} KiB: completed "
            f"{common.pct(r.completion_rate):>8s}, window exceeded "
            f"{common.pct(r.resume_window_exceeded_rate):>8s}, p99 time "
            f"{common.seconds(r.completion_time):>7s}, p99 memory "
            f"{r.server_memory_bytes / 1e3:,.1f} kB"
        )
    lines.append(fig.caption)
    return common.finish(args, lines)


if __name__ == "__main__":
    sys.exit(main())
