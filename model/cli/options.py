"""Argument types and option groups shared by the `midstream` commands."""

from __future__ import annotations

import argparse
from pathlib import Path

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


def output_path(text: str) -> Path:
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


def pdf_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() != ".pdf":
        raise argparse.ArgumentTypeError(f"{text!r}: the file name must end in .pdf")
    return path


def calibration_dir(text: str) -> Path:
    path = Path(text)
    if not (path / "fidelity.json").is_file():
        raise argparse.ArgumentTypeError(
            f"{text!r}: not a `midstream calibrate --out` directory (no fidelity.json in it)"
        )
    return path


def preset(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--preset",
        default=None,
        metavar="NAME",
        help="apply a real stack's defaults first (see `midstream presets`); --set comes after",
    )


def seed_and_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=whole_number(0), default=0, help="root seed (default 0)")
    preset(p)
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a setting by dotted path, e.g. client.backoff.jitter=equal (repeatable)",
    )


def workers(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workers",
        type=whole_number(1),
        default=None,
        help="worker processes (default: all cores)",
    )


def common(p: argparse.ArgumentParser) -> None:
    """The options of the commands that simulate one scenario and may write its tables."""
    p.add_argument("scenario", help="scenario name (see `midstream scenarios`)")
    seed_and_set(p)
    workers(p)
    p.add_argument(
        "--out",
        type=output_path,
        help="write the stream table here (.parquet or .csv); "
        "the disconnect table goes next to it as NAME.disconnects.EXT, provenance as NAME.EXT.json",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
