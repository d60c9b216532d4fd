"""`run` and `sweep`: simulate one scenario (or a grid of it), print estimates and SLO verdicts."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

from model.cli.options import (
    MAX_SESSIONS,
    check_work,
    checkpoint,
    common,
    executor,
    table_outputs,
    whole_number,
)


def add_commands(verbs) -> None:
    run = verbs.add_parser(
        "run",
        help="simulate streams and judge the SLOs",
        description="Simulate streams of a scenario; print estimates and the SLO verdict table.",
    )
    common(run)
    run.add_argument(
        "--streams",
        type=whole_number(1, MAX_SESSIONS),
        default=None,
        help="number of streams (sessions) of a fixed-size run (default 2000)",
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
        type=whole_number(1, MAX_SESSIONS),
        default=None,
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
        type=whole_number(1, MAX_SESSIONS),
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
    from model import runner, slo, tilting
    from model.config import ConfigError, apply_overrides
    from model.scenarios import get_scenario
    from model.sequential import run_sized

    cfg = apply_overrides(get_scenario(args.scenario), args.overrides)
    size = run_size(args)
    check_work(cfg, size.count, args)
    tilt = args.tilt
    if tilt and size.mode == "fixed" and args.out is not None and not args.out.suffix:
        raise ConfigError(
            "--tilt",
            " ".join(tilt),
            "not with a dataset --out DIR on a fixed run (weighted verdicts are computed in "
            "memory): use --out FILE.parquet",
        )
    if tilt and size.mode == "fixed":  # the whole run weighted: show its tilt in the summary
        cfg, tilt = tilting.with_tilt(cfg, tilt, args.seed, args.workers), None
    workdir, temporary = checkpoint(args, args.out)
    progress = not args.quiet
    with executor(args) as where:
        if workdir is not None and args.out == workdir and size.mode == "fixed":
            # a dataset out of a fixed run: no row comes back to this process
            runner.run(
                cfg, size.count, args.seed, args.workers, progress=progress, executor=where,
                workdir=workdir, gather=False,
            )  # fmt: skip
            ev = finish_dataset(workdir, cfg, args.overrides, args.seed, size.count)
            print_summary(cfg.name, cfg.slo, ev, slo.verdicts(ev, cfg.slo), args.seed, cfg.tilt)
            print(f"\nwrote the dataset {workdir}")  # already sealed: `| head` loses nothing
            return 0
        res, table = run_sized(
            cfg, size, args.seed, workers=args.workers, progress=progress, executor=where,
            workdir=workdir, tilt=tilt,
        )  # fmt: skip
    # written before printing: a closed stdout (`| head`) must not lose the tables
    sessions = int(res.streams.session.nunique())
    if workdir is not None and not temporary:
        finish_dataset(workdir, cfg, args.overrides, args.seed, sessions, evidence=False)
    if args.out and args.out != workdir:
        write(res, args.out, provenance(args, cfg, len(res.streams)))
    if temporary:
        shutil.rmtree(workdir, ignore_errors=True)
    print_summary(cfg.name, cfg.slo, slo.evidence(res), table, args.seed, cfg.tilt)
    if args.out and args.out != workdir:
        print(f"\nwrote {args.out} and {table_outputs(args.out)[2]}")
    elif args.out:
        print(f"\nwrote the dataset {workdir}")
    return 0


def run_size(args):
    """The run's size from --streams, --until-decided, --demonstrate and --budget; a flag that
    the chosen size would ignore is refused."""
    from model.config import ConfigError
    from model.sequential import RunSize

    mode = "until-decided" if args.until_decided else "demonstrate" if args.demonstrate else None
    if mode and args.streams is not None:
        raise ConfigError(
            "--streams", args.streams, f"not with --{mode}, which sizes the run within --budget"
        )
    if not mode and args.budget is not None:
        raise ConfigError(
            "--budget",
            args.budget,
            "only with --until-decided or --demonstrate (a fixed run simulates --streams)",
        )
    if mode:
        return RunSize(mode, 64_000 if args.budget is None else args.budget)
    return RunSize("fixed", 2000 if args.streams is None else args.streams)


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
    grid = parse_grid(cfg, args.vary, args.overrides)
    points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    for point in points:  # every point is valid and small enough before any time is spent
        check_work(apply_overrides(cfg, point), args.streams * len(points), args)
    workdir, temporary = checkpoint(args, args.out)
    with executor(args) as where:
        res = runner.sweep(
            cfg, grid, args.streams, args.seed, workers=args.workers, progress=not args.quiet,
            executor=where, workdir=workdir,
        )  # fmt: skip
    keys = list(grid)
    summary = res.streams.groupby(keys, sort=False).agg(
        streams=("stream", "size"),
        completion=("outcome", lambda o: (o == "completed").mean()),
        p99_buffer_bytes=("buffer_peak_bytes", lambda b: b.quantile(0.99)),
    )
    # never recovered = inf; an observed value (not an interpolation, which is NaN between two infs)
    rec = res.disconnects.groupby(keys, sort=False).recovery_time.agg(
        disconnects="size",
        p50_recovery_s=lambda r: r.fillna(float("inf")).quantile(0.5, interpolation="higher"),
        p99_recovery_s=lambda r: r.fillna(float("inf")).quantile(0.99, interpolation="higher"),
    )
    if workdir is not None and not temporary:
        for point in points:
            finish_dataset(
                workdir / runner.point_dir(point), apply_overrides(cfg, point),
                [*args.overrides, *(f"{k}={v}" for k, v in point.items())], args.seed,
                args.streams, evidence=False,
            )  # fmt: skip
    if args.out and args.out != workdir:  # before printing: `| head` must not lose the tables
        write(
            res,
            args.out,
            {**provenance(args, cfg, args.streams), "grid": grid},
        )
    if temporary:
        shutil.rmtree(workdir, ignore_errors=True)
    print(summary.join(rec).to_string(float_format=lambda x: f"{x:.4g}"))
    if args.out and args.out != workdir:
        print(f"\nwrote {args.out} and {table_outputs(args.out)[2]}")
    elif args.out:
        print(f"\nwrote one dataset per grid point under {workdir}")
    return 0


def finish_dataset(path: Path, cfg, overrides, seed: int, sessions: int, evidence: bool = True):
    """Seal a run's dataset (provenance, list of parts); its evidence, aggregated from disk."""
    from model import runner
    from model.aggregate import dataset_evidence
    from model.config import ConfigError
    from model.dataset import PartError, PartStore

    try:  # fails only if the dataset changed on disk while the run wrote it
        PartStore.open(path, cfg, seed).seal(
            sessions, runner.provenance(cfg, overrides, seed, sessions)
        )
        return dataset_evidence(path)[0] if evidence else None
    except PartError as e:
        raise ConfigError("--out", str(path), str(e)) from None


def provenance(args, cfg, streams: int) -> dict:
    """`runner.provenance` plus the preset's name (its settings lead `overrides`)."""
    from model import runner

    return {**runner.provenance(cfg, args.overrides, args.seed, streams), "preset": args.preset}


def parse_vary(text: str) -> tuple[str, list[str]]:
    from model.config import ConfigError

    path, eq, values = text.partition("=")
    parts = [v.strip() for v in values.split(",") if v.strip()]
    if not eq or not path.strip() or not parts:
        raise ConfigError("--vary", text, "expected dotted.path=value1,value2,...")
    return path.strip(), parts


def parse_grid(cfg, texts: list[str], overrides: list[str]) -> dict[str, list[str]]:
    """{path: values} from the --vary options, each value checked; a path varied twice or also
    fixed by --set, and two values that are the same setting (10 and 10.0), are refused: they
    would merge rows or silently drop a point."""
    from model.config import ConfigError, apply_overrides, setting

    fixed = {o.partition("=")[0].strip() for o in overrides}
    grid: dict[str, list[str]] = {}
    for text in texts:
        path, values = parse_vary(text)
        if path in grid or path in fixed:
            where = "another --vary" if path in grid else "--set"
            raise ConfigError("--vary", text, f"{path} is also given by {where}; give it once")
        seen: dict = {}
        for value in values:
            same = seen.setdefault(setting(apply_overrides(cfg, {path: value}), path), value)
            if same != value:
                raise ConfigError("--vary", text, f"{same} and {value} are the same value")
        grid[path] = values
    return grid


def print_summary(name: str, targets, ev, table, seed: int, tilt: str = "") -> None:
    """Outcomes, estimates and the verdict table of a run of scenario `name` judged against the
    SLO `targets` (a `config.Slo`), from its `slo.Evidence`; `tilt`: the weather tilt of an
    importance-sampled run."""
    from model import slo

    disconnects = ev.rates["recovery_rate"][1]
    print(f"\n{name}: {ev.streams} streams, seed {seed}, {disconnects} disconnects")
    if tilt:
        print(f"importance sampling: weather tilted to {tilt}; weights in the `weight` column")
    print(
        "outcomes: "
        + ", ".join(f"{k} {v}" for k, v in ev.outcomes.items())
        + (" (" + ", ".join(f"{k} {v}" for k, v in ev.errors.items()) + ")" if ev.errors else "")
    )
    est = slo.estimates(ev, targets.confidence)
    shown = est[
        (est.method != "wilson") & est.statistic.isin(["rate", "p50", "p99", "mean (finite)"])
    ]
    print(f"\nestimates ({targets.confidence:.0%} two-sided intervals):")
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
    """The stream and disconnect tables with their sidecars, all renamed into place together."""
    from model import runner

    runner.write_tables({out: res.streams, table_outputs(out)[2]: res.disconnects}, prov)
