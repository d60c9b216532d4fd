"""Real stacks: every preset of `model.presets` on every scenario of the catalogue, verdicts side by
side.

Question. Which stack's defaults (SignalR stateful reconnect, Socket.IO connection-state recovery,
SSE with Last-Event-ID, python websockets, graphql-ws restarting) meet which of the seed's targets,
scenario by scenario, and how do they compare with the scenario as catalogued?

Method. Each (preset, scenario) pair runs as `midstream run SCENARIO --preset NAME` would, with the
report's sizes (`midstream report`'s demonstration run, or `--streams N` sessions), the same seed
for every pair (common random numbers: two stacks face the same weather). The row `catalogue` is
the scenario with its own settings (no preset). A preset sets only the client's and the server's
behaviour; where it cannot be exact its notes say so (`midstream describe SCENARIO --preset NAME`).

Reading the output. `verdicts.parquet` has one row per (preset, scenario, SLO) with the status
(PASS / FAIL / INCONCLUSIVE / N/A), the estimate, its one-sided bounds and `n`. `stacks.png` is the
at-a-glance grid: one row per stack, one column per SLO, each cell split into one stripe per
scenario coloured by its verdict, with the count of scenarios that PASS. The summary counts the
verdicts of each stack and names the SLOs it FAILs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as `python experiments/real_stacks.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from experiments import common
from experiments.slo_suite import STATUS_COLOURS
from model import SCENARIOS
from model.presets import PRESETS, with_preset
from model.report import run_scenario

NAME = "real_stacks"
BASELINE = "catalogue"
COLUMNS = ["preset", "scenario", "sessions", "slo", "target", "status", "estimate", "lower",
           "upper", "n", "confidence"]  # fmt: skip


def compare(args) -> tuple[pd.DataFrame, list]:
    """Every (stack, scenario) verdict table, stacked; and the runs (for provenance)."""
    tables, runs = [], []
    for preset in [BASELINE, *PRESETS]:
        overrides = with_preset(None if preset == BASELINE else preset, args.overrides)
        for name in args.scenarios:
            r = run_scenario(name, args.seed, args.streams, overrides, workers=args.workers,
                             progress=args.progress)  # fmt: skip
            runs.append(r)
            tables.append(r.verdicts.assign(preset=preset, scenario=name, sessions=r.sessions))
    return pd.concat(tables, ignore_index=True)[COLUMNS], runs


def stack_grid(table: pd.DataFrame) -> Figure:
    """Stacks (rows) against SLOs (columns); each cell one stripe per scenario, coloured by its
    verdict, with how many scenarios PASS."""
    stacks, slos = list(dict.fromkeys(table.preset)), list(dict.fromkeys(table.slo))
    scenarios = list(dict.fromkeys(table.scenario))
    fig = Figure(figsize=(9.0, 0.45 * len(stacks) + 1.8), layout="constrained")
    ax = fig.add_subplot()
    width = 1 / len(scenarios)
    for row in table.itertuples():
        i, j, k = stacks.index(row.preset), slos.index(row.slo), scenarios.index(row.scenario)
        ax.add_patch(Rectangle((j + k * width, i + 0.08), width, 0.84, lw=0,
                               facecolor=STATUS_COLOURS[row.status]))  # fmt: skip
    for (stack, slo_), cell in table.groupby(["preset", "slo"], sort=False):
        i, j = stacks.index(stack), slos.index(slo_)
        judged = int((cell.status != "N/A").sum())
        ax.text(j + 0.5, i + 0.5, f"{int((cell.status == 'PASS').sum())}/{judged}", ha="center",
                va="center", fontsize=7, fontweight="bold")  # fmt: skip
    ax.set(xlim=(0, len(slos)), ylim=(len(stacks), 0))
    ax.set_xticks(np.arange(len(slos)) + 0.5, [s.replace("_", " ") for s in slos], rotation=30,
                  ha="right", fontsize=7)  # fmt: skip
    ax.set_yticks(np.arange(len(stacks)) + 0.5, stacks, fontsize=8)
    ax.tick_params(length=0)
    ax.set_title(
        f"Verdicts by stack: one stripe per scenario ({len(scenarios)}); k/n = scenarios passing",
        fontsize=9,
    )
    passes = table[table.status == "PASS"].groupby("preset").size()
    best = passes.idxmax() if len(passes) else "none"
    fig.caption = (
        f"{len(stacks)} stacks x {len(scenarios)} scenarios x {len(slos)} SLOs; most PASS "
        f"verdicts: {best} ({int(passes.get(best, 0))} of {len(table) // len(stacks)}). Stripes "
        f"in the order {', '.join(scenarios)}; green PASS, red FAIL, grey INCONCLUSIVE, pale N/A."
    )
    return fig


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    only = argparse.ArgumentParser(add_help=False)
    only.add_argument("--scenario", action="append", choices=list(SCENARIOS), default=None)
    chosen, rest = only.parse_known_args(argv)
    args = common.parse_args(
        NAME,
        __doc__ + "\n--scenario NAME (repeatable): only these scenarios (default: every one)",
        None,
        rest,
        streams_help="sessions per (stack, scenario), as `midstream report --streams` (default: "
        "the report's demonstration sizes)",
    )
    args.argv, args.scenarios = argv, chosen.scenario or list(SCENARIOS)
    table, runs = compare(args)
    prov = common.provenance(args, [(r.cfg, r.sessions) for r in runs], presets=list(PRESETS))
    common.write_table(table, args, "verdicts", prov)
    fig = stack_grid(table)
    common.write_figure(fig, args, "stacks")
    lines = [fig.caption]
    for stack, v in table.groupby("preset", sort=False):
        counts = v.status.value_counts()
        failed = sorted(set(v.slo[v.status == "FAIL"]))
        lines.append(
            f"  {stack:11s} "
            + " ".join(
                f"{s[0]}{int(counts.get(s, 0))}" for s in ("PASS", "FAIL", "INCONCLUSIVE", "N/A")
            )  # fmt: skip
            + (f"  FAIL on: {', '.join(failed)}" if failed else "")
        )
    return common.finish(args, lines)


if __name__ == "__main__":
    sys.exit(main())
