"""Argument types and option groups shared by the `midstream` commands."""

from __future__ import annotations

import argparse
import contextlib
import sys
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
    """A table file (.parquet or .csv), or a directory (no suffix) for a partitioned dataset."""
    path = Path(text)
    if path.suffix and path.suffix not in OUTPUT_SUFFIXES:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the file name must end in {' or '.join(OUTPUT_SUFFIXES)}, "
            "or be a directory name without a suffix (a Parquet dataset)"
        )
    if path.is_file() and not path.suffix:
        raise argparse.ArgumentTypeError(f"{text!r}: a file, not a directory for a dataset")
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


def seed_and_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=whole_number(0), default=0, help="root seed (default 0)")
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


def placement(p: argparse.ArgumentParser) -> None:
    """Where the chunks run and where they are checkpointed."""
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the chunks on a Dask cluster: a scheduler address (tcp://host:8786) or local:N "
        "for a local cluster of N worker processes (needs the dask extra)",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        metavar="DIR",
        help="save every finished chunk under DIR and resume from it when rerun (default: beside "
        "--out, removed once the output is written; a dataset --out is its own checkpoint)",
    )


@contextlib.contextmanager
def executor(args):
    """The `runner.run` executor the options ask for: the process pool, or a Dask client (a
    local cluster is started and stopped here)."""
    if not args.scheduler:
        yield "process"
        return
    from model.executors import connect

    with connect(args.scheduler, say=lambda line: print(line, file=sys.stderr)) as client:
        yield client


def checkpoint(args, out: Path | None) -> tuple[Path | None, bool]:
    """(workdir, whether to remove it once the output is written): --workdir; else a dataset
    --out is its own; else OUT.parts beside a file --out; else none."""
    if out is not None and not out.suffix:
        if args.workdir is not None and args.workdir != out:
            from model.config import ConfigError

            raise ConfigError(
                "--workdir",
                str(args.workdir),
                "leave it out: a dataset --out is its own checkpoint",
            )
        return out, False
    if args.workdir is not None:
        return args.workdir, False
    if out is None:
        return None, False
    return out.with_name(f"{out.name}.parts"), True


def common(p: argparse.ArgumentParser) -> None:
    """The options of the commands that simulate one scenario and may write its tables."""
    p.add_argument("scenario", help="scenario name (see `midstream scenarios`)")
    seed_and_set(p)
    workers(p)
    p.add_argument(
        "--out",
        type=output_path,
        help="write the stream table here (.parquet or .csv); "
        "the disconnect table goes next to it as NAME.disconnects.EXT, provenance as "
        "NAME.EXT.json; or a directory (no suffix): a partitioned Parquet dataset, one part per "
        "chunk, written by the workers (see `midstream verdicts`)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    placement(p)
