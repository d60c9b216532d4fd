"""`tune`: search settings for the cheapest ones with every SLO verdict PASS."""

from __future__ import annotations

from pathlib import Path

from model.cli.options import seed_and_set, whole_number, workers

RUNNERS_UP = 4


def add_commands(verbs) -> None:
    from model.tune import DEFAULT_BUDGET, DEFAULT_TRIALS

    tune = verbs.add_parser(
        "tune",
        help="find the cheapest settings where every SLO PASSes",
        description="Vary settings within ranges (Optuna's TPE with constraints); judge each "
        "candidate as `run --until-decided --budget B` does (stopping at its first FAIL); "
        "print the cheapest candidate whose every verdict is PASS, the runners-up, and write "
        "the trials and the trade-off figure under --out. A rerun with the same --out resumes.",
    )
    tune.add_argument("scenario", help="scenario name (see `midstream scenarios`)")
    seed_and_set(tune)
    workers(tune)
    tune.add_argument(
        "--vary",
        action="append",
        required=True,
        metavar="PATH=LO..HI",
        help="a numeric setting and its range (repeatable); a range over a factor of 10 or more "
        "is searched on a log scale",
    )
    tune.add_argument(
        "--cost",
        required=True,
        metavar="EXPR",
        help="what to minimise: numbers, + - * / ( ) and the costs buffer_p99, "
        "session_buffer_p99, buffer_mean, pings_per_minute, reconnects_per_minute, "
        "attempts_per_outage, replayed_bytes, recovery_p99, reconnect_p99 (from the simulated "
        "tables) or numeric settings, e.g. 'pings_per_minute + 2 * reconnects_per_minute'",
    )
    tune.add_argument(
        "--trials",
        type=whole_number(1),
        default=DEFAULT_TRIALS,
        help=f"candidates to judge (default {DEFAULT_TRIALS})",
    )
    tune.add_argument(
        "--budget",
        type=whole_number(1),
        default=DEFAULT_BUDGET,
        help=f"session budget per candidate (default {DEFAULT_BUDGET:,}: enough for the default "
        "99.95 %% completion and 99.9 %% recovery targets to PASS)",
    )
    tune.add_argument(
        "--axis",
        default="recovery_p99",
        help="the figure's second axis, a cost name (default recovery_p99)",
    )
    tune.add_argument(
        "--out",
        type=Path,
        default=Path("reports/tune"),
        help="folder for trials.jsonl (the journal a rerun resumes from), trials.csv, "
        "frontier.png (default reports/tune)",
    )
    tune.add_argument("--quiet", action="store_true", help="no line per trial")
    tune.set_defaults(func=cmd_tune)


def cmd_tune(args) -> int:
    from model import figures
    from model.config import ConfigError, apply_overrides
    from model.scenarios import get_scenario
    from model.tune import COSTS, FEASIBLE, CostExpr, parse_knob, tune

    cfg = apply_overrides(get_scenario(args.scenario), args.overrides)
    knobs = [parse_knob(v, cfg) for v in args.vary]
    cost = CostExpr(args.cost, cfg)
    if args.axis not in COSTS:
        raise ConfigError("--axis", args.axis, "one of " + ", ".join(COSTS))
    args.out.mkdir(parents=True, exist_ok=True)
    journal = args.out / "trials.jsonl"

    def show(t) -> None:
        if not args.quiet:
            verdict = "PASS all" if t.feasible else f"{int(t.constraint)} not PASS"
            print(
                f"trial {t.number:3d}  {' '.join(t.assignments())}  cost {t.cost:.4g}  "
                f"{verdict}  ({t.sessions:,} sessions, {t.seconds:.0f} s)",
                flush=True,
            )

    result = tune(
        cfg, knobs, cost, args.trials, args.seed, args.budget, args.workers, journal, on_trial=show
    )
    table = result.table()
    table.to_csv(args.out / "trials.csv", index=False)
    fig = figures.tune_frontier(table, args.axis, args.cost, cfg.name)
    fig.savefig(args.out / "frontier.png", dpi=150, metadata={"Description": fig.caption})
    ok = result.feasible()
    print(f"\n{cfg.name}: {len(result.trials)} candidates, {len(ok)} with every SLO PASS")
    if not ok:
        print("no candidate passes every SLO in these ranges; widen them or raise --budget")
        near = min(result.trials, key=lambda t: (t.constraint, t.cost))
        short = [f"{v['slo']} {v['status']}" for v in near.verdicts if v["status"] not in FEASIBLE]
        print(f"closest: trial {near.number} ({', '.join(near.assignments())}): {'; '.join(short)}")
    for rank, t in enumerate(ok[: 1 + RUNNERS_UP]):
        label = "best" if rank == 0 else f"runner-up {rank}"
        print(f"{label:12s} cost {t.cost:.4g}: " + " ".join(f"--set {a}" for a in t.assignments()))
    if ok:
        best = ok[0]
        print("\nverdicts of the best:")
        for v in best.verdicts:
            print(f"  {v['slo']:24s} {v['status']:12s} estimate {v['estimate']}")
        preset = f" --preset {args.preset}" if args.preset else ""
        extra = "".join(f" --set {o}" for o in args.overrides[len(_preset_part(args)) :])
        print(
            f"\ncheck on a fresh seed: midstream run {cfg.name}{preset}{extra} --until-decided "
            f"--budget {args.budget} --seed {args.seed + 1} "
            + " ".join(f"--set {a}" for a in best.assignments())
        )
    print(f"wrote {journal}, {args.out / 'trials.csv'}, {args.out / 'frontier.png'}")
    print(fig.caption)
    return 0


def _preset_part(args) -> list[str]:
    from model.presets import get_preset

    return get_preset(args.preset).assignments() if args.preset else []
