"""`run` and `sweep`: simulate one scenario (or a grid of it), print estimates and SLO verdicts."""

from __future__ import annotations

from pathlib import Path

from model.cli.options import common, whole_number


def add_commands(verbs) -> None:
    run = verbs.add_parser(
        "run",
        help="simulate streams and judge the SLOs",
        description="Simulate streams of a scenario; print estimates and the SLO verdict table.",
    )
    common(run)
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
    tilt_option(run)
    run.set_defaults(func=cmd_run)

    sweep = verbs.add_parser(
        "sweep",
        help="replicate a scenario over a grid of settings",
        description="Run every combination of the --vary values, each with the same seed.",
    )
    common(sweep)
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
    sweep.set_defaults(func=cmd_sweep)


def cmd_run(args) -> int:
    from model import runner, tilting
    from model.config import apply_overrides
    from model.scenarios import get_scenario
    from model.sequential import RunSize, run_sized

    cfg = apply_overrides(get_scenario(args.scenario), args.overrides)
    size = (
        RunSize("until-decided", args.budget)
        if args.until_decided
        else RunSize("demonstrate", args.budget)
        if args.demonstrate
        else RunSize("fixed", args.streams)
    )
    tilt = args.tilt
    if tilt and size.mode == "fixed":  # the whole run weighted: show its tilt in the summary
        cfg, tilt = tilting.with_tilt(cfg, tilt, args.seed, args.workers), None
    res, table = run_sized(
        cfg, size, args.seed, workers=args.workers, progress=not args.quiet, tilt=tilt
    )
    print_summary(cfg, res, table, args.seed)
    if args.out:
        write(res, args.out, runner.provenance(cfg, args.overrides, args.seed, len(res.streams)))
    return 0


def tilt_option(p) -> None:
    p.add_argument(
        "--tilt",
        action="append",
        default=[],
        metavar="PATH=VALUE|auto",
        help="importance sampling: simulate under a tilted weather, e.g. "
        "disconnects.rate_scale=8 (repeatable; weather settings only), or 'auto' (cross-entropy "
        "from a small pilot). With --streams the whole run is weighted; with --until-decided or "
        "--demonstrate it decides the rate verdicts crude Monte Carlo leaves open",
    )


def cmd_sweep(args) -> int:
    from model import runner
    from model.config import apply_overrides
    from model.scenarios import get_scenario

    cfg = apply_overrides(get_scenario(args.scenario), args.overrides)
    grid = dict(parse_vary(v) for v in args.vary)
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
        write(
            res,
            args.out,
            {**runner.provenance(cfg, args.overrides, args.seed, args.streams), "grid": grid},
        )
    return 0


def parse_vary(text: str) -> tuple[str, list[str]]:
    from model.config import ConfigError

    path, eq, values = text.partition("=")
    if not eq or not path.strip() or not values.strip():
        raise ConfigError("--vary", text, "expected dotted.path=value1,value2,...")
    return path.strip(), [v.strip() for v in values.split(",") if v.strip()]


def print_summary(cfg, res, table, seed: int) -> None:
    from model import slo

    s, d = res.streams, res.disconnects
    print(f"\n{cfg.name}: {len(s)} streams, seed {seed}, {len(d)} disconnects")
    if cfg.tilt:
        print(f"importance sampling: weather tilted to {cfg.tilt}; weights in the `weight` column")
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
    cols += [c for c in ("ess", "rel_error", "decided_by") if c in table]
    print(table[cols].to_string(index=False, float_format=lambda x: f"{x:.5g}", na_rep="-"))
    notes = table[table.decided_by != slo.CRUDE] if "decided_by" in table else table[:0]
    for row in notes.itertuples():
        print(f"  {row.slo}: {row.method}")


def write(res, out: Path, prov: dict) -> None:
    from model import runner

    disconnects = out.with_name(f"{out.stem}.disconnects{out.suffix}")
    runner.write_table(res.streams, out, prov)
    runner.write_table(res.disconnects, disconnects, prov)
    print(f"\nwrote {out} and {disconnects}")
