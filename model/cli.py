"""The `midstream` command line."""
from __future__ import annotations

import argparse
import sys

from model.config import ConfigError, apply_overrides
from model.scenarios import SCENARIOS, get_scenario
from model.simulation import simulate


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a positive whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= 0") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value}: must be >= 0")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="midstream", description="Reliability of streaming responses cut mid-stream.")
    verbs = p.add_subparsers(dest="verb", required=True)
    verbs.add_parser("scenarios", help="list the scenarios", description="List the scenarios.")
    run = verbs.add_parser("run", help="simulate streams of a scenario", description="Simulate streams of a scenario and print estimates.")
    run.add_argument("scenario", help="scenario name (see `midstream scenarios`)")
    run.add_argument("--streams", type=positive_int, default=1000, help="number of streams (default 1000)")
    run.add_argument("--seed", type=non_negative_int, default=0, help="root seed (default 0)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                     help="override a setting by dotted path, e.g. client.backoff.jitter=equal (repeatable)")
    run.add_argument("--out", help="write the stream table here (.parquet or .csv)")
    return p


def cmd_scenarios(_args) -> int:
    for name, s in sorted(SCENARIOS.items()):
        print(f"{name:24s} {s.description.split('. ')[0]}")
    return 0


def cmd_run(args) -> int:
    cfg = apply_overrides(get_scenario(args.scenario), args.overrides)
    res = simulate(cfg, args.streams, args.seed)
    s = res.streams
    n = len(s)
    print(f"{cfg.name}: {n} streams, seed {args.seed}")
    print(f"  completed  {(s.outcome == 'completed').sum()}/{n}")
    print(f"  intact     {s.integrity_ok.sum()}/{n}")
    print(f"  disconnects {len(res.disconnects)}; recovered {(res.disconnects.outcome == 'recovered').sum()}")
    if len(res.disconnects):
        rec = res.disconnects.recovery_time.dropna()
        print(f"  recovery time p50 {rec.quantile(0.5):.3f} s, p99 {rec.quantile(0.99):.3f} s")
    print(f"  replay buffer peak p99 {s.buffer_peak_bytes.quantile(0.99):.0f} B")
    if args.out:
        if args.out.endswith(".csv"):
            s.to_csv(args.out, index=False)
        else:
            s.to_parquet(args.out, index=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return {"scenarios": cmd_scenarios, "run": cmd_run}[args.verb](args)
    except ConfigError as e:
        print(f"midstream: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
