"""What every study in `experiments/` shares: its command line, its output folder, provenance,
writing tables and figures, splitting a sweep into its points, and the rows of an estimate with its
interval.

A study is `main(argv=None) -> int` in `experiments/NAME.py`:

    args = common.parse_args("NAME", __doc__, default_streams=1000, argv=argv)
    cfg = common.scenario("text-interruption", args)
    res = sweep(cfg, grid, args.streams, args.seed, workers=args.workers, progress=args.progress)
    rows = [
        {**point, "measure": "completion_rate", **common.rate(k, n)}
        for point, part in common.points(res, grid)
    ]
    prov = common.provenance(args, [(cfg, args.streams)], grid=grid)
    common.write_table(pd.DataFrame(rows), args, "NAME", prov)
    common.write_figure(fig, args, "NAME")
    return common.finish(args, ["headline ..."])

Estimate rows share one layout (`statistic, estimate, lower, upper, n, method`) so every study's
table is tidy in the same way as `model.slo.estimates`: two-sided Clopper-Pearson intervals for
rates, distribution-free order-statistic intervals for quantiles, Student t for means.
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from model import Results, Scenario, apply_overrides, get_scenario, runner, stats
from model.cli.options import whole_number

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ROOT / "reports" / "experiments"
DEFAULT_SEED = 1  # as the README's `midstream report --seed 1`
CONFIDENCE = 0.95
QUICK_OVERRIDES = {"content.frames": 100}  # --quick: 2 s responses instead of 20 s ...
QUICK_STREAMS = 30  # ... and a few dozen streams
DPI = 200


# ---------------------------------------------------------------- command line


def parse_args(
    name: str,
    doc: str,
    default_streams: int | None,
    argv: list[str] | None,
    streams_help: str = "streams per grid point",
) -> argparse.Namespace:
    """The options every study takes. Adds `overrides` (the --quick settings), `progress`, `argv`,
    `name` and `started` to the namespace and creates the output folder. A `default_streams` of
    None leaves the default to the study (say which in `streams_help`)."""
    p = argparse.ArgumentParser(
        prog=f"python experiments/{name}.py",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--streams",
        type=whole_number(1),
        default=None,
        help=f"{streams_help} ({'' if default_streams is None else f'default {default_streams}; '}"
        f"{QUICK_STREAMS} with --quick)",
    )
    p.add_argument(
        "--seed",
        type=whole_number(0),
        default=DEFAULT_SEED,
        help=f"root seed (default {DEFAULT_SEED})",
    )
    p.add_argument(
        "--workers",
        type=whole_number(1),
        default=None,
        help="worker processes (default: every core)",
    )
    p.add_argument(
        "--out-dir",
        type=Path,
        default=REPORTS / name,
        help=f"where the tables and figures go (default reports/experiments/{name})",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes for tests: "
        + ", ".join(f"{k}={v}" for k, v in QUICK_OVERRIDES.items())
        + f" and {QUICK_STREAMS} streams unless --streams is given",
    )
    argv = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(argv)
    if args.streams is None:
        args.streams = QUICK_STREAMS if args.quick else default_streams
    args.overrides = dict(QUICK_OVERRIDES) if args.quick else {}
    args.progress = not args.quick and sys.stderr.isatty()
    args.argv, args.name, args.started = argv, name, time.perf_counter()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    return args


def scenario(name: str, args: argparse.Namespace, extra: dict | None = None) -> Scenario:
    """The catalogued scenario with the study's own settings (`extra`) and then the --quick ones."""
    return apply_overrides(get_scenario(name), {**(extra or {}), **args.overrides})


# ---------------------------------------------------------------- sweeps and estimates


def points(res: Results, grid: dict[str, list]) -> Iterator[tuple[dict, Results]]:
    """Each point of a `runner.sweep` grid, in grid order, with its part of both tables."""
    for values in itertools.product(*grid.values()):
        point = dict(zip(grid, values))

        def part(table: pd.DataFrame) -> pd.DataFrame:
            mask = np.ones(len(table), dtype=bool)
            for path, value in point.items():
                mask &= (table[path] == value).to_numpy() if path in table else False
            return table[mask]

        yield point, Results(part(res.streams), part(res.disconnects))


def completion_times(streams: pd.DataFrame) -> np.ndarray:
    """Request to last frame, +inf for a stream that did not complete (failed or censored): like the
    SLO latencies, an unfinished stream counts as infinitely slow instead of being dropped."""
    t = streams.completion_time.astype(float) - streams.start_time.astype(float)
    return np.where(streams.outcome == "completed", t, np.inf)


def rate(successes: int, n: int, confidence: float = CONFIDENCE) -> dict:
    """An estimate row for a proportion, with its two-sided Clopper-Pearson interval."""
    if n == 0:
        return dict(
            statistic="rate", estimate=np.nan, lower=np.nan, upper=np.nan, n=0, method="no trials"
        )
    lo, hi = stats.clopper_pearson_interval(int(successes), int(n), confidence)
    return dict(
        statistic="rate",
        estimate=successes / n,
        lower=lo,
        upper=hi,
        n=int(n),
        method="clopper-pearson",
    )


def quantile(sample, q: float, confidence: float = CONFIDENCE) -> dict:
    """An estimate row for the q-quantile, with its order-statistic interval (NaN bound: unbounded
    with this many observations; +inf: beyond the observations that ended)."""
    sample = np.asarray(sample, dtype=float)
    est, lo, hi = stats.quantile_interval(sample, q, confidence) if len(sample) else (np.nan,) * 3
    return dict(
        statistic=f"p{q * 100:g}",
        estimate=est,
        lower=lo,
        upper=hi,
        n=len(sample),
        method=stats.QUANTILE_METHOD,
    )


def mean(sample, confidence: float = CONFIDENCE) -> dict:
    """An estimate row for the mean of the finite values, with its Student t interval."""
    sample = np.asarray(sample, dtype=float)
    sample = sample[np.isfinite(sample)]
    est, lo, hi = stats.mean_interval(sample, confidence) if len(sample) else (np.nan,) * 3
    return dict(
        statistic="mean", estimate=est, lower=lo, upper=hi, n=len(sample), method="student-t"
    )


# ---------------------------------------------------------------- output


def provenance(args: argparse.Namespace, runs: list[tuple[Scenario, int]], **extra) -> dict:
    """What made a table: the study, its command, its arguments, anything in `extra` (e.g. the grid)
    and, for every base configuration it ran, `runner.provenance` (config, seed, sessions,
    versions)."""
    command = shlex.join(["python", f"experiments/{args.name}.py", *args.argv])
    return {
        "experiment": args.name,
        "command": command,
        "arguments": {
            "streams": args.streams,
            "seed": args.seed,
            "workers": args.workers,
            "quick": args.quick,
        },
        **extra,
        "runs": [
            runner.provenance(cfg, args.overrides, args.seed, sessions) for cfg, sessions in runs
        ],
    }


def write_table(df: pd.DataFrame, args: argparse.Namespace, stem: str, prov: dict) -> Path:
    """`OUT_DIR/stem.parquet` with the provenance in its metadata and in `stem.parquet.json`."""
    path = args.out_dir / f"{stem}.parquet"
    runner.write_table(df.reset_index(drop=True), path, prov)
    return path


def write_figure(fig: Figure, args: argparse.Namespace, stem: str) -> list[Path]:
    """`OUT_DIR/stem.png` (200 dpi) and `stem.pdf`, with the figure's computed caption in their
    metadata."""
    caption = getattr(fig, "caption", "")
    paths = [args.out_dir / f"{stem}.png", args.out_dir / f"{stem}.pdf"]
    fig.savefig(paths[0], dpi=DPI, metadata={"Title": stem, "Description": caption})
    fig.savefig(paths[1], metadata={"Title": stem, "Subject": caption})
    return paths


def finish(args: argparse.Namespace, lines: list[str]) -> int:
    """Print the summary (and keep it as `OUT_DIR/summary.txt`) with the wall time and the files."""
    wall = time.perf_counter() - args.started
    files = sorted(
        p.name for p in args.out_dir.iterdir() if p.is_file() and p.name != "summary.txt"
    )
    text = "\n".join(
        [
            f"{args.name} (seed {args.seed}{', --quick' if args.quick else ''})",
            *lines,
            f"wall time {wall:.1f} s; wrote {args.out_dir}: {', '.join(files)}",
        ]
    )
    (args.out_dir / "summary.txt").write_text(text + "\n")
    print(text)
    return 0


def pct(x: float) -> str:
    """A share as a percentage for the summaries."""
    return "-" if not np.isfinite(x) else f"{100 * x:.4g} %"


def seconds(x: float) -> str:
    return "never" if np.isinf(x) else ("-" if not np.isfinite(x) else f"{x:.3g} s")
