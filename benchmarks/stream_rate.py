"""Benchmark: streams per second of the standard stream, next to the raw SimPy event rate.

The standard stream is the `text-interruption` scenario: 1,000 text frames, `unstable` network,
`resume` strategy, one process. Each repeat measures, in the same run:
- the bare SimPy event rate (`env.timeout` loop): the machine's speed for SimPy at that moment;
- the fast (bulk) engine's simulation alone and with its tables (`simulate`), in-process, and the
  SimPy events each stream used (`CountingEnvironment`);
- end to end through the CLI (`midstream run --workers 1 --out x.parquet`): the difference of two
  run sizes, so start-up, imports and the fixed cost of writing cancel;
- the per-frame reference engine (on a tenth of the streams);
- the wall time of the light commands (`scenarios`, `describe`, `--help`).
Medians over --repeats; each rate is also given per bare SimPy event rate (streams per 10^6 bare
events), which moves far less than the rates on a shared machine.

    python benchmarks/stream_rate.py [--streams 500] [--repeats 5] [--cli 200,1200] [--no-cli]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import simpy

from model import apply_overrides, get_scenario
from model.simulation import CountingEnvironment, each_session, simulate

ROOT = Path(__file__).resolve().parents[1]
LIGHT_COMMANDS = (["scenarios"], ["describe", "text-interruption"], ["--help"])


def bare_simpy_rate(events: int = 200_000) -> float:
    """Events per second of a bare `env.timeout` loop on this machine."""
    env = simpy.Environment()

    def loop():
        for _ in range(events):
            yield env.timeout(1.0)

    env.process(loop())
    start = time.perf_counter()
    env.run()
    return events / (time.perf_counter() - start)


def stream_rate(cfg, streams: int, seed: int) -> tuple[float, float]:
    """Streams per second of the simulation alone, and mean SimPy events per stream."""
    start = time.perf_counter()
    count = lambda run: run.env.events_processed
    events = each_session(cfg, seed, range(streams), count, env_class=CountingEnvironment)
    elapsed = time.perf_counter() - start
    return streams / elapsed, sum(events) / streams


def table_rate(cfg, streams: int, seed: int) -> float:
    """Streams per second of `simulate`: the simulation and its stream and disconnect tables."""
    start = time.perf_counter()
    simulate(cfg, streams, seed)
    return streams / (time.perf_counter() - start)


def midstream(*args: str) -> float:
    """Wall seconds of one `midstream` command (a fresh interpreter, as a user runs it)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "model.cli", *args],
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=ROOT,
        env=env,
    )
    return time.perf_counter() - start


def cli_rate(small: int, large: int, seed: int) -> float:
    """Streams per second of `midstream run ... --workers 1 --out`, from two run sizes."""
    with tempfile.TemporaryDirectory() as tmp:
        seconds = {}
        for n in (small, large):
            out = str(Path(tmp) / f"run{n}.parquet")
            run = ["run", "text-interruption", "--streams", str(n), "--seed", str(seed)]
            seconds[n] = midstream(*run, "--workers", "1", "--quiet", "--out", out)
    return (large - small) / (seconds[large] - seconds[small])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=500)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--cli", default="200,1200", help="the two run sizes of the CLI measure")
    p.add_argument("--no-cli", action="store_true", help="in-process figures only")
    args = p.parse_args()
    small, large = (int(n) for n in args.cli.split(","))
    cfg = get_scenario("text-interruption")
    reference = apply_overrides(cfg, ["engine=per_frame"])
    few = max(1, args.streams // 10)
    runs: dict[str, list[float]] = {"simpy": [], "sim": [], "events": [], "tables": []}
    runs |= {"per_frame": [], "cli": [], **{" ".join(c): [] for c in LIGHT_COMMANDS}}
    for r in range(args.repeats):
        runs["simpy"].append(bare_simpy_rate())
        rate, events = stream_rate(cfg, args.streams, seed=r)
        runs["sim"].append(rate)
        runs["events"].append(events)
        runs["tables"].append(table_rate(cfg, args.streams, seed=r))
        runs["per_frame"].append(stream_rate(reference, few, seed=r)[0])
        if not args.no_cli:
            runs["cli"].append(cli_rate(small, large, seed=r))
            for command in LIGHT_COMMANDS:
                runs[" ".join(command)].append(midstream(*command))
    med = {k: statistics.median(v) for k, v in runs.items() if v}
    simpy_rate = med["simpy"]

    def rate_line(label: str, key: str) -> str:
        per_event = med[key] / simpy_rate * 1e6
        return f"{label:44s} {med[key]:9,.0f} streams/s  ({per_event:6.0f} per 10^6 bare events)"

    print(f"medians of {args.repeats} repeats; {args.streams} streams in-process per repeat")
    print(f"{'bare SimPy env.timeout events/s':44s} {simpy_rate:9,.0f}")
    print(rate_line("in-process, simulation only", "sim"))
    print(rate_line("in-process, with tables (simulate)", "tables"))
    if "cli" in med:
        print(rate_line(f"CLI run --workers 1 --out ({large} - {small})", "cli"))
    print(rate_line(f"per-frame reference engine ({few} streams)", "per_frame"))
    print(
        f"SimPy events per stream: {med['events']:.1f}  "
        f"(= {simpy_rate / med['sim']:,.0f} bare-event equivalents per stream); "
        f"bulk is {med['sim'] / med['per_frame']:.0f}x the per-frame engine"
    )
    for command in LIGHT_COMMANDS if "cli" in med else ():
        print(f"{'wall time: midstream ' + ' '.join(command):44s} {med[' '.join(command)]:9.2f} s")


if __name__ == "__main__":
    main()
