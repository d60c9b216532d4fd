"""The `midstream` command line: one module per group of commands, each with `add_commands(verbs)`.

Bad input gets one line naming what is wrong and what is allowed, exit code 2, no traceback, and
nothing written. Heavy libraries load inside the commands that use them, not here.
"""

from __future__ import annotations

import argparse
import os
import sys

from model.cli import calibrate, catalogue, report, simulate, tune, verdicts
from model.cli.options import Parser, whole_number

__all__ = ["main", "parser", "whole_number"]

COMMAND_GROUPS = (catalogue, simulate, verdicts, report, calibrate, tune)


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="midstream", description="Reliability of streaming responses cut mid-stream.")
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    for group in COMMAND_GROUPS:
        group.add_commands(verbs)
    return p


def _run_errors() -> tuple[type[Exception], ...]:
    """A stream's or a worker's failure (`runner.RunError`), looked up only if a command loaded the
    runner (nothing else raises it), so light commands never import pandas."""
    runner = sys.modules.get("model.runner")
    return () if runner is None else (runner.RunError,)


def main(argv: list[str] | None = None, *, testbed=None) -> int:
    """`testbed`: the real stack `calibrate` uses (a module name or an object with `run_testbed`
    and `check_available`; default `model.testbed`), a seam for tests and other stacks."""
    args = parser().parse_args(argv)
    args.testbed = testbed
    from model.fields import ConfigError

    try:
        if hasattr(args, "preset"):  # the preset's settings first, then --set
            from model.presets import with_preset

            args.overrides = with_preset(args.preset, getattr(args, "overrides", []))
        return args.func(args)
    except ConfigError as e:
        print(f"midstream {args.verb}: error: {e}", file=sys.stderr)
        return 2
    except _run_errors() as e:  # a stream or a worker failed: the model's fault, not the input's
        print(f"midstream {args.verb}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "midstream: interrupted; no output was written (a rerun of the same command resumes "
            "from the chunks saved beside --out or in --workdir)",
            file=sys.stderr,
        )
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
