"""The `midstream` command line: one module per group of commands, each with `add_commands(verbs)`.

Bad input gets one line naming what is wrong and what is allowed, exit code 2, no traceback, and
nothing written. Heavy libraries load inside the commands that use them, not here.
"""

from __future__ import annotations

import argparse
import os
import sys

from model.cli import calibrate, catalogue, report, simulate
from model.cli.options import whole_number

__all__ = ["main", "parser", "whole_number"]

COMMAND_GROUPS = (catalogue, simulate, report, calibrate)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="midstream", description="Reliability of streaming responses cut mid-stream."
    )
    verbs = p.add_subparsers(dest="verb", required=True, metavar="VERB")
    for group in COMMAND_GROUPS:
        group.add_commands(verbs)
    return p


def _input_errors() -> tuple[type[Exception], ...]:
    """The errors that are bad input (one line, exit 2). The runner's is only looked up if a
    command loaded the runner (nothing else raises it), so light commands never import pandas."""
    from model.fields import ConfigError

    runner = sys.modules.get("model.runner")
    return (ConfigError,) if runner is None else (ConfigError, runner.WorkdirMismatch)


def main(argv: list[str] | None = None, *, testbed=None) -> int:
    """`testbed`: the real stack `calibrate` uses (a module name or an object with `run_testbed`
    and `check_available`; default `model.testbed`), a seam for tests and other stacks."""
    args = parser().parse_args(argv)
    args.testbed = testbed
    try:
        return args.func(args)
    except _input_errors() as e:
        print(f"midstream {args.verb}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("midstream: interrupted; nothing was written", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
