"""The `midstream` command line: scenarios, describe, run, sweep, report, validate, calibrate.

Bad input gets one line naming what is wrong and what is allowed, exit code 2, no traceback, and
nothing written.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path

import pandas as pd

from model import runner, slo
from model.config import ConfigError, Scenario, apply_overrides, settable_paths
from model.runner import WorkdirMismatch
from model.scenarios import SCENARIOS, get_scenario
from model.sequential import RunSize, run_sized

OUTPUT_SUFFIXES = (".parquet", ".csv")


def whole_number(lo: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= {lo}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"{value}: must be a whole number >= {lo}")
        return value

    return parse


def _output_path(text: str) -> Path:
    path = Path(text)
    if path.suffix not in OUTPUT_SUFFIXES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the file name must end in {' or '.join(OUTPUT_SUFFIXES)}"
        )
    if not path.parent.exists():
        raise argparse.ArgumentTypeError(
            f"{text!r}: the folder {str(path.parent)!r} does not exist"
        )
    return path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="midstream", description="Reliability of streaming responses cut mid-stream."
    )
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    verbs.add_parser(
        "scenarios",
        help="list the scenarios",
        description="List the scenarios with a one-line summary.",
    )
    describe = verbs.add_parser(
        "describe",
        help="every setting of a scenario, and its SLOs",
        description="Print every settable dotted path with its value, unit and allowed values.",
    )
    describe.add_argument("scenario", help="scenario name (see `midstream scenarios`)")

    run = verbs.add_parser(
        "run",
        help="simulate streams and judge the SLOs",
        description="Simulate streams of a scenario; print estimates and the SLO verdict table.",
    )
    _common(run)
    run.add_argument(
        "--streams", type=whole_number(1), default=2000, help="number of streams (default 2000)"
    )
    how_many = run.add_mutually_exclusive_group()
    how_many.add_argument(
        "--until-decided",
        action="store_true",
        help="simulate in doubling batches until every verdict is decided or --budget is spent",
    )
    how_many.add_argument(
        "--demonstrate",
        action="store_true",
        help="simulate the sessions and disconnects with which zero failures would pass the "
        "completion and recovery targets (5,990 and 2,995 by default), within --budget; "
        "judge once",
    )
    run.add_argument(
        "--budget",
        type=whole_number(1),
        default=64_000,
        help="session budget for --until-decided and --demonstrate (default 64000)",
    )

    sweep = verbs.add_parser(
        "sweep",
        help="replicate a scenario over a grid of settings",
        description="Run every combination of the --vary values, each with the same seed.",
    )
    _common(sweep)
    sweep.add_argument(
        "--streams",
        type=whole_number(1),
        default=1000,
        help="streams per grid point (default 1000)",
    )
    sweep.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="PATH=V1,V2,...",
        required=True,
        help="a dotted path and its values (repeatable: the grid is their product)",
    )
    report = verbs.add_parser(
        "report",
        help="run the scenarios and write the PDF reliability report",
        description="Run the scenarios (default: all) as `midstream run` does and write a PDF: "
        "SLO verdicts, estimates, figures, methods, validation and provenance.",
    )
    report.add_argument(
        "scenarios", nargs="*", metavar="SCENARIO", help="scenarios to include (default: every one)"
    )
    how_many = report.add_mutually_exclusive_group()
    how_many.add_argument(
        "--streams",
        type=whole_number(1),
        default=None,
        help="a fixed number of sessions per scenario, as in `run --streams` (default: each "
        "scenario runs as `run --demonstrate`)",
    )
    how_many.add_argument(
        "--until-decided",
        action="store_true",
        help="run each scenario in doubling batches until its verdicts are decided or --budget is "
        "spent",
    )
    report.add_argument(
        "--budget",
        type=whole_number(1),
        default=None,
        help="session budget per scenario (default: 20000 single-stream sessions, 12000 streams' "
        "worth of multi-stream ones but at least 299 sessions)",
    )
    report.add_argument("--seed", type=whole_number(0), default=0, help="root seed (default 0)")
    report.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a setting in every scenario, e.g. content.frames=200 (repeatable)",
    )
    _workers(report)
    report.add_argument(
        "--out",
        type=_pdf_path,
        default=Path("reports/reliability.pdf"),
        help="the PDF to write (default reports/reliability.pdf); provenance goes to OUT.json",
    )
    report.add_argument(
        "--no-sweep", action="store_true", help="leave out the resume-against-restart sweep"
    )
    report.add_argument(
        "--no-validation", action="store_true", help="do not run model.validation for the appendix"
    )
    report.add_argument("--quiet", action="store_true", help="no progress bar")
    report.add_argument(
        "--fidelity",
        type=_calibration_dir,
        default=None,
        metavar="DIR",
        help="add a 'Fidelity against a real stack' section from a `midstream "
        "calibrate --out DIR` directory",
    )

    validate = verbs.add_parser(
        "validate",
        help="check the model against closed-form results",
        description="Compare Monte Carlo estimates with theory, one line per case "
        "(each test's false-alarm rate 0.1 %%); exit code 1 if any disagrees.",
    )
    validate.add_argument(
        "--quick", action="store_true", help="fewer replications (under a minute)"
    )
    _calibrate_parser(verbs)
    return p


def _calibrate_parser(verbs) -> None:
    calibrate = verbs.add_parser(
        "calibrate",
        help="compare the model with a real WebSocket stack on the same seeds",
        description="Run N real streams (real TCP on loopback, faults applied by nftables from the "
        "same seeded weather; needs root) and the model, matched to loopback, on the "
        "same seeds; print the fidelity table and the acceptance checks. Real streams "
        "take real time: about content.frames x server.gap plus the outages per "
        "stream, divided by --concurrency (text-interruption: about 21 s a stream, so "
        "--streams 200 --concurrency 16 takes 4 to 5 minutes).",
    )
    calibrate.add_argument("scenario", help="scenario name (see `midstream scenarios`)")
    _seed_and_set(calibrate)
    calibrate.add_argument(
        "--streams",
        type=whole_number(1),
        default=200,
        help="real streams, and as many model streams (default 200)",
    )
    calibrate.add_argument(
        "--concurrency",
        type=whole_number(1),
        default=16,
        help="real streams running at once (default 16)",
    )
    calibrate.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="write both sides' tables, the faults, fidelity.csv, fidelity.json "
        "and ecdf.png into this directory (for `report --fidelity DIR`)",
    )
    calibrate.add_argument("--quiet", action="store_true", help="no progress bar")


def _calibration_dir(text: str) -> Path:
    path = Path(text)
    if not (path / "fidelity.json").is_file():
        raise argparse.ArgumentTypeError(
            f"{text!r}: not a `midstream calibrate --out` directory (no fidelity.json in it)"
        )
    return path


def _pdf_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() != ".pdf":
        raise argparse.ArgumentTypeError(f"{text!r}: the file name must end in .pdf")
    return path


def _seed_and_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=whole_number(0), default=0, help="root seed (default 0)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a setting by dotted path, e.g. client.backoff.jitter=equal (repeatable)",
    )


def _workers(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workers",
        type=whole_number(1),
        default=None,
        help="worker processes (default: all cores)",
    )


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario name (see `midstream scenarios`)")
    _seed_and_set(p)
    _workers(p)
    p.add_argument(
        "--out",
        type=_output_path,
        help="write the stream table here (.parquet or .csv); "
        "the disconnect table goes next to it as NAME.disconnects.EXT, provenance as NAME.EXT.json",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")


# ---------------------------------------------------------------- verbs


def cmd_scenarios(_args) -> int:
    for name, s in sorted(SCENARIOS.items()):
        print(f"{name:26s} {s.description.split('. ')[0].rstrip('.')}.")
    return 0


def cmd_describe(args) -> int:
    cfg = get_scenario(args.scenario)
    print(f"{cfg.name}\n\n{cfg.description}\n")
    rows = [(s.path, _fmt(s.value), s.unit, s.allowed, s.doc) for s in settable_paths(cfg)]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for path, value, unit, allowed, doc in rows:
        print(f"{path:{widths[0]}}  {value:>{widths[1]}}  {unit:{widths[2]}}  {doc} [{allowed}]")
    return 0


def cmd_run(args) -> int:
    cfg = apply_overrides(get_scenario(args.scenario), args.overrides)
    size = (
        RunSize("until-decided", args.budget)
        if args.until_decided
        else RunSize("demonstrate", args.budget)
        if args.demonstrate
        else RunSize("fixed", args.streams)
    )
    res, table = run_sized(cfg, size, args.seed, workers=args.workers, progress=not args.quiet)
    print_summary(cfg, res, table, args.seed)
    if args.out:
        _write(res, args.out, runner.provenance(cfg, args.overrides, args.seed, len(res.streams)))
    return 0


def cmd_sweep(args) -> int:
    cfg = apply_overrides(get_scenario(args.scenario), args.overrides)
    grid = dict(_parse_vary(v) for v in args.vary)
    for path, values in grid.items():  # check every value before spending any time
        for value in values:
            apply_overrides(cfg, {path: value})
    res = runner.sweep(
        cfg, grid, args.streams, args.seed, workers=args.workers, progress=not args.quiet
    )
    keys = list(grid)
    summary = res.streams.groupby(keys, sort=False).agg(
        streams=("stream", "size"),
        completion=("outcome", lambda o: (o == "completed").mean()),
        p99_buffer_bytes=("buffer_peak_bytes", lambda b: b.quantile(0.99)),
    )
    rec = res.disconnects.groupby(keys, sort=False).recovery_time.agg(
        disconnects="size",
        p50_recovery_s=lambda r: r.fillna(float("inf")).quantile(0.5),
        p99_recovery_s=lambda r: r.fillna(float("inf")).quantile(0.99),
    )
    print(summary.join(rec).to_string(float_format=lambda x: f"{x:.4g}"))
    if args.out:
        _write(
            res,
            args.out,
            {**runner.provenance(cfg, args.overrides, args.seed, args.streams), "grid": grid},
        )
    return 0


def cmd_report(args) -> int:
    from model.report import build_report  # matplotlib and reportlab load only for this verb

    path = build_report(
        args.scenarios or None,
        streams=args.streams,
        until_decided=args.until_decided,
        budget=args.budget,
        seed=args.seed,
        out_path=args.out,
        workers=args.workers,
        progress=not args.quiet,
        overrides=args.overrides,
        sweep=not args.no_sweep,
        validate=not args.no_validation,
        fidelity=args.fidelity,
    )
    print(f"wrote {path} and {path}.json")
    return 0


def cmd_calibrate(args, testbed=None) -> int:
    from model import fidelity
    from model.calibrate import TestbedUnavailable, calibrate

    cfg = apply_overrides(get_scenario(args.scenario), args.overrides)
    try:
        cal = calibrate(
            cfg,
            args.streams,
            args.seed,
            out=args.out,
            concurrency=args.concurrency,
            progress=not args.quiet,
            overrides=args.overrides,
            testbed=testbed,
        )
    except TestbedUnavailable as e:
        print(f"midstream calibrate: {e}; nothing was run", file=sys.stderr)
        return 2
    print(
        f"\n{cfg.name}: {args.streams} real and {args.streams} model streams, seed {args.seed}; "
        f"{len(cal.real.disconnects)} real and {len(cal.model.disconnects)} model disconnects"
    )
    print("\nmeans (95 % intervals):\n" + fidelity.aligned(fidelity.estimate_rows(cal.table)))
    print(
        "\nmodel against real (paired where the same weather event; verdict at 1 %):\n"
        + fidelity.aligned(fidelity.comparison_rows(cal.table))
    )
    print("\nacceptance:\n" + fidelity.aligned(fidelity.check_rows(cal.checks)))
    print("\n" + fidelity.reading(cal.table, cal.checks))
    if args.out:
        print(f"\nwrote {args.out}/ (tables, fidelity.csv, fidelity.json, ecdf.png)")
    return 0


def cmd_validate(args) -> int:
    from model.validation import main_validate

    return main_validate(quick=args.quick)


def _parse_vary(text: str) -> tuple[str, list[str]]:
    path, eq, values = text.partition("=")
    if not eq or not path.strip() or not values.strip():
        raise ConfigError("--vary", text, "expected dotted.path=value1,value2,...")
    return path.strip(), [v.strip() for v in values.split(",") if v.strip()]


# ---------------------------------------------------------------- output


def print_summary(cfg: Scenario, res, table: pd.DataFrame, seed: int) -> None:
    s, d = res.streams, res.disconnects
    print(f"\n{cfg.name}: {len(s)} streams, seed {seed}, {len(d)} disconnects")
    counts = s.outcome.value_counts().to_dict()
    errors = s[s.outcome == "failed"].error.value_counts().to_dict()
    print(
        "outcomes: "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
        + (" (" + ", ".join(f"{k} {v}" for k, v in errors.items()) + ")" if errors else "")
    )
    est = slo.estimates(res, cfg.slo.confidence)
    shown = est[
        (est.method != "wilson") & est.statistic.isin(["rate", "p50", "p99", "mean (finite)"])
    ]
    print(f"\nestimates ({cfg.slo.confidence:.0%} two-sided intervals):")
    print(shown.to_string(index=False, float_format=lambda x: f"{x:.5g}"))
    conf = table["confidence"].iloc[0]
    print(
        f"\nSLO verdicts (one-sided bounds at {conf:.4g} confidence"
        + (
            f", {table['looks_planned'].iloc[0]} planned looks, overall "
            f"{table['stated_confidence'].iloc[0]:.0%}"
            if "looks_planned" in table
            else ""
        )
        + "):"
    )
    cols = ["slo", "target", "status", "estimate", "lower", "upper", "n", "more_streams"]
    print(table[cols].to_string(index=False, float_format=lambda x: f"{x:.5g}", na_rep="-"))


def _write(res, out: Path, prov: dict) -> None:
    runner.write_table(res.streams, out, prov)
    runner.write_table(res.disconnects, out.with_name(f"{out.stem}.disconnects{out.suffix}"), prov)
    print(f"\nwrote {out} and {out.with_name(f'{out.stem}.disconnects{out.suffix}')}")


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value) if value != "" else '""'


def main(argv: list[str] | None = None, *, testbed=None) -> int:
    """`testbed`: the real stack `calibrate` uses (a module name or an object with `run_testbed`
    and `check_available`; default `model.testbed`), a seam for tests and other stacks."""
    args = parser().parse_args(argv)
    verbs = {
        "scenarios": cmd_scenarios,
        "describe": cmd_describe,
        "run": cmd_run,
        "sweep": cmd_sweep,
        "report": cmd_report,
        "validate": cmd_validate,
        "calibrate": functools.partial(cmd_calibrate, testbed=testbed),
    }
    try:
        return verbs[args.verb](args)
    except (ConfigError, WorkdirMismatch) as e:
        print(f"midstream {args.verb}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("midstream: interrupted; nothing was written", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
