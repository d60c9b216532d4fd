"""`report`: run the scenarios and write the PDF reliability report."""

from __future__ import annotations

from pathlib import Path

from model.cli.options import calibration_dir, pdf_path, whole_number, workers
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
    workers(report)
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
        "--no-validation", action="store_true", help="do not run model.validation for the appendix"
    )
    report.add_argument("--quiet", action="store_true", help="no progress bar")
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
        tilt=args.tilt,
    )
    print(f"wrote {path} and {path}.json")
    return 0
