"""`calibrate`: the model against a real WebSocket stack under kernel faults, on the same seeds."""

from __future__ import annotations

import sys
from pathlib import Path

from model.cli.options import seed_and_set, whole_number


def add_commands(verbs) -> None:
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
    seed_and_set(calibrate)
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
    calibrate.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args) -> int:
    """`args.testbed`: the real stack (see `model.cli.main`)."""
    from model import fidelity
    from model.calibrate import TestbedUnavailable, calibrate
    from model.config import apply_overrides
    from model.scenarios import get_scenario

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
            testbed=args.testbed,
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
