"""Benchmark: streams per second of the standard stream, next to the raw SimPy event rate.

The standard stream is the `text-interruption` scenario: 1,000 text frames, `unstable` network,
`resume` strategy, one process. Prints medians over --repeats runs of: the fast (bulk) engine's
simulation alone and with its tables (`simulate`), the SimPy events each stream used on average
(`CountingEnvironment`), and the per-frame reference engine's rate
(on a tenth of the streams) with the speed-up measured in the same run.

    python benchmarks/stream_rate.py [--streams 500] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import simpy

from model import apply_overrides, get_scenario
from model.simulation import CountingEnvironment, run_stream, simulate


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
    events = 0
    start = time.perf_counter()
    for i in range(streams):
        events += run_stream(cfg, seed, i, env_class=CountingEnvironment).env.events_processed
    elapsed = time.perf_counter() - start
    return streams / elapsed, events / streams


def table_rate(cfg, streams: int, seed: int) -> float:
    """Streams per second of `simulate`: the simulation and its stream and disconnect tables."""
    start = time.perf_counter()
    simulate(cfg, streams, seed)
    return streams / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=500)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    cfg = get_scenario("text-interruption")
    reference = apply_overrides(cfg, ["engine=per_frame"])
    few = max(1, args.streams // 10)
    runs = {"sim": [], "tables": [], "simpy": [], "events": [], "per_frame": []}
    for r in range(args.repeats):
        runs["simpy"].append(bare_simpy_rate())
        rate, events = stream_rate(cfg, args.streams, seed=r)
        runs["sim"].append(rate)
        runs["events"].append(events)
        runs["tables"].append(table_rate(cfg, args.streams, seed=r))
        runs["per_frame"].append(stream_rate(reference, few, seed=r)[0])
    med = {k: statistics.median(v) for k, v in runs.items()}
    frames = cfg.content.frames
    print(
        f"streams/s, simulation only (median of {args.repeats} x {args.streams}): {med['sim']:,.0f}"
    )
    print(f"streams/s, with tables (simulate): {med['tables']:,.0f}")
    print(f"bare SimPy env.timeout events/s (median): {med['simpy']:,.0f}")
    print(f"SimPy events per stream: {med['events']:.1f}  ({med['events'] / frames:.3f} per frame)")
    print(
        f"ratio stream rate / SimPy event rate: {med['sim'] / med['simpy']:.2e} "
        f"(= {med['simpy'] / med['sim']:,.0f} bare-event equivalents per stream)"
    )
    print(
        f"per-frame reference engine: {med['per_frame']:,.1f} streams/s ({few} streams per run); "
        f"bulk is {med['sim'] / med['per_frame']:.0f}x faster"
    )


if __name__ == "__main__":
    main()
