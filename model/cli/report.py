"""`report`: run the scenarios and write the PDF reliability report."""

from __future__ import annotations

import shutil
from pathlib import Path

from model.cli.options import (
    MAX_SESSIONS,
    calibration_dir,
    check_work,
    checkpoint,
    executor,
    pdf_path,
    placement,
    seed_and_set,
    whole_number,
    work_limit,
    workers,
)
from model.cli.simulate import tilt_option


def add_commands(verbs) -> None:
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
        type=whole_number(1, MAX_SESSIONS),
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
        type=whole_number(1, MAX_SESSIONS),
        default=None,
        help="session budget per scenario (default: 20000 single-stream sessions, 12000 streams' "
        "worth of multi-stream ones but at least 299 sessions)",
    )
    seed_and_set(
        report, "override a setting in every scenario, e.g. content.frames=200 (repeatable)"
    )
    workers(report)
    work_limit(report)
    report.add_argument(
        "--out",
        type=pdf_path,
        default=Path("reports/reliability.pdf"),
        help="the PDF to write (default reports/reliability.pdf); provenance goes to OUT.json",
    )
    report.add_argument(
        "--no-sweep", action="store_true", help="leave out the resume-against-restart sweep"
    )
    report.add_argument(
        "--no-remedies",
        action="store_true",
        help="leave out 'What would make it pass' (a small search for each scenario with a FAIL)",
    )
    report.add_argument(
        "--no-validation", action="store_true", help="do not run model.validation for the appendix"
    )
    report.add_argument("--quiet", action="store_true", help="no progress bar")
    placement(report)
    report.add_argument(
        "--fidelity",
        type=calibration_dir,
        default=None,
        metavar="DIR",
        help="add a 'Fidelity against a real stack' section from a `midstream "
        "calibrate --out DIR` directory",
    )
    tilt_option(report)
    report.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    from model.config import ConfigError, apply_overrides
    from model.report import build_report  # matplotlib and reportlab load only for this verb
    from model.report.running import default_budget
    from model.scenarios import SCENARIOS, get_scenario

    if args.streams is not None and args.budget is not None:
        raise ConfigError(
            "--budget", args.budget, "not with --streams, which fixes the sessions per scenario"
        )
    for name in args.scenarios or SCENARIOS:
        cfg = apply_overrides(get_scenario(name), args.overrides)
        check_work(cfg, args.streams or args.budget or default_budget(cfg), args)
    workdir, temporary = checkpoint(args, args.out)
    with executor(args) as where:
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
            executor=where,
            workdir=workdir,
            preset=args.preset,
            remedies=not args.no_remedies,
            tilt=args.tilt,
        )
    if temporary:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"wrote {path} and {path}.json")
    return 0
