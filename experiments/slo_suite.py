"""SLO suite: every scenario of the catalogue against its SLOs, in one tidy verdict table.

Question. Which of the seed's targets (p99 reconnect < 2 s, p99 resume < 0.5 s, p99 recovery < 5 s,
p99 replay-buffer memory < 50 MB, completion >= 99.95 %, integrity 100 %,
recovery success >= 99.9 %,
timeout handling 100 %) does each scenario meet, miss, or leave undecided at this sample size?

Method. Each scenario of `model.scenarios.SCENARIOS` is run exactly as `midstream report` runs it
(`model.report.run_scenario`), with the same seed for every scenario (common random numbers). By
default that is `midstream run SCENARIO --demonstrate`: the sessions and disconnects with which zero
failures would pass the completion and recovery targets, within the report's budget
(`model.report.default_budget`); `--streams N` runs every scenario with N sessions instead, as
`midstream report --streams N` does, so with the same seed and sizes the verdicts equal the
report's.

Reading the output. `verdicts.parquet` has one row per (scenario, SLO): `status` is PASS when the
one-sided bound at `confidence` clears the `target`, FAIL when it misses, INCONCLUSIVE when the
interval straddles it, with `more_streams` the projected extra streams that would decide it (rate
SLOs; empty when no size would, or the target is zero-tolerance). `estimate`, `lower`, `upper` are
the point estimate and the bounds (rates: proportions; latencies: seconds, +inf = never reached;
memory: bytes); `n` is the trials behind it (streams, disconnects or sessions). `verdicts.png` is
the matrix of statuses with the estimates. The printed summary counts the verdicts and names every
FAIL. Several verdicts judged at 95 % each: across the ~90 cells a few may be wrong by chance.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python experiments/slo_suite.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from experiments import common
from model import SCENARIOS
from model.report import run_scenario

NAME = "slo_suite"
COLUMNS = [
    "scenario",
    "sessions",
    "streams",
    "slo",
    "target",
    "status",
    "estimate",
    "lower",
    "upper",
    "n",
    "more_streams",
    "confidence",
    "method",
]
STATUS_COLOURS = {"PASS": "#a1d99b", "FAIL": "#fc9272", "INCONCLUSIVE": "#d9d9d9", "N/A": "#f7f7f7"}


def suite(args) -> tuple[pd.DataFrame, list]:
    """Every scenario's verdict table, stacked; and the runs (for provenance)."""
    tables, runs = [], []
    for name in SCENARIOS:
        r = run_scenario(
            name,
            args.seed,
            args.streams,
            args.overrides,
            workers=args.workers,
            progress=args.progress,
        )
        runs.append(r)
        v = r.verdicts.assign(scenario=name, sessions=r.sessions, streams=len(r.results.streams))
        tables.append(v[COLUMNS])
    return pd.concat(tables, ignore_index=True), runs


def _cell(row) -> str:
    """The estimate, short: a percentage, seconds or bytes."""
    x = row.estimate
    if not np.isfinite(x):
        return "never" if np.isinf(x) else "-"
    if row.slo.endswith("_rate"):
        return f"{100 * x:.4g}%"
    if row.slo.endswith("buffer_bytes"):
        return f"{x / 1e6:.2g} MB" if x >= 1e5 else f"{x / 1e3:.3g} kB"
    return f"{x:.3g} s"


def verdict_matrix(table: pd.DataFrame) -> Figure:
    """Scenarios (rows) against SLOs (columns), each cell coloured by its status, with the
    estimate."""
    scenarios, slos = list(dict.fromkeys(table.scenario)), list(dict.fromkeys(table.slo))
    fig = Figure(figsize=(9.0, 0.35 * len(scenarios) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    for _, row in table.iterrows():
        i, j = scenarios.index(row.scenario), slos.index(row.slo)
        ax.add_patch(_rect(j, i, STATUS_COLOURS[row.status]))
        ax.text(j + 0.5, i + 0.5, _cell(row), ha="center", va="center", fontsize=6.5)
    ax.set(xlim=(0, len(slos)), ylim=(len(scenarios), 0))
    ax.set_xticks(
        np.arange(len(slos)) + 0.5,
        [s.replace("_", " ") for s in slos],
        rotation=30,
        ha="right",
        fontsize=7,
    )
    ax.set_yticks(np.arange(len(scenarios)) + 0.5, scenarios, fontsize=7)
    ax.tick_params(length=0)
    conf = float(table.confidence.iloc[0])
    ax.set_title(
        f"SLO verdicts ({conf:.0%} one-sided bounds; green PASS, red FAIL, grey INCONCLUSIVE, "
        "pale n/a)",
        fontsize=9,
    )
    counts = table.status.value_counts()
    fig.caption = (
        f"{len(table)} verdicts over {len(scenarios)} scenarios: "
        + ", ".join(f"{int(counts.get(s, 0))} {s}" for s in ("PASS", "FAIL", "INCONCLUSIVE", "N/A"))
        + ". Each cell shows the estimate "
        "(rates in %, latencies in s, memory per session)."
    )
    return fig


def _rect(x, y, colour) -> Rectangle:
    return Rectangle((x, y), 1, 1, facecolor=colour, edgecolor="white", lw=1.5)


def main(argv: list[str] | None = None) -> int:
    args = common.parse_args(
        NAME,
        __doc__,
        None,
        argv,
        streams_help="sessions per scenario, as `midstream report --streams` (default: the "
        "report's demonstration sizes, within 20,000 single-stream sessions or 12,000 streams of a "
        "multi-stream scenario)",
    )
    table, runs = suite(args)
    common.write_table(
        table,
        args,
        "verdicts",
        common.provenance(
            args, [(r.cfg, r.sessions) for r in runs], commands={r.name: r.command for r in runs}
        ),
    )
    fig = verdict_matrix(table)
    common.write_figure(fig, args, "verdicts")
    lines = [fig.caption]
    for r in runs:
        v = table[table.scenario == r.name]
        counts = v.status.value_counts()
        fails = ", ".join(f"{row.slo} {_cell(row)}" for row in v[v.status == "FAIL"].itertuples())
        lines.append(
            f"  {r.name:26s} {r.sessions:>5,} sessions {len(r.results.streams):>6,} streams  "
            + " ".join(
                f"{s[0]}{int(counts.get(s, 0))}" for s in ("PASS", "FAIL", "INCONCLUSIVE", "N/A")
            )
            + (f"  FAIL: {fails}" if fails else "")
        )
    return common.finish(args, lines)


if __name__ == "__main__":
    sys.exit(main())
