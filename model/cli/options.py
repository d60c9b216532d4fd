"""Argument types and option groups shared by the `midstream` commands."""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from pathlib import Path

OUTPUT_SUFFIXES = (".parquet", ".csv")
MAX_SEED = 2**63 - 1  # seeds go into 64-bit integer columns and JSON
MAX_SESSIONS = 10_000_000  # = model.limits.MAX_STREAMS: the stream table is held in memory


class Parser(argparse.ArgumentParser):
    """argparse with its errors on one line (the usage is one `--help` away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def whole_number(lo: int, hi: int | None = None):
    within = f">= {lo}" if hi is None else f"from {lo} to {hi:,}"

    def parse(text: str) -> int:
        value = int(text) if re.fullmatch(r"\s*[+-]?[0-9]+\s*", text) else None
        if value is None:
            raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number {within}")
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{value}: must be a whole number {within}")
        return value

    return parse


def table_outputs(out: Path) -> list[Path]:
    """Every file `--out OUT` writes: OUT, NAME.disconnects.EXT and their JSON sidecars."""
    disconnects = out.with_name(f"{out.stem}.disconnects{out.suffix}")
    return [out, Path(f"{out}.json"), disconnects, Path(f"{disconnects}.json")]


def _writable(paths: list[Path], text: str) -> None:
    from model.fields import ConfigError
    from model.outputs import check_writable

    try:
        check_writable(paths)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: {e.allowed}") from None


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
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text!r}: the folder {str(path.parent)!r} does not exist"
        )
    _writable(table_outputs(path) if path.suffix else [path / "dataset.json"], text)
    return path


def pdf_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() != ".pdf":
        raise argparse.ArgumentTypeError(f"{text!r}: the file name must end in .pdf")
    _writable([path, Path(f"{path}.json")], text)
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


def seed_and_set(
    p: argparse.ArgumentParser,
    set_help: str = "override a setting by dotted path, e.g. client.backoff.jitter=equal "
    "(repeatable)",
) -> None:
    preset(p)
    p.add_argument(
        "--seed", type=whole_number(0, MAX_SEED), default=0, help="root seed (default 0)"
    )
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE", help=set_help
    )


def workers(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workers",
        type=whole_number(1),
        default=None,
        help="worker processes (default: all cores; never more than the chunks of work)",
    )


def work_limit(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-work-limit",
        action="store_true",
        help="run even when the estimated work is beyond the limits (README, Limits)",
    )


def check_work(cfg, sessions: int, args) -> None:
    """Refuse a run too large to finish (model.limits) unless --no-work-limit."""
    if not args.no_work_limit:
        from model.limits import check_run

        check_run(cfg, sessions)


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
    work_limit(p)
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
