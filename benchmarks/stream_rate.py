"""Benchmark: streams per second of the standard stream, next to the raw SimPy event rate.

The standard stream is the `text-interruption` scenario: 1,000 text frames, `unstable` network,
`resume` strategy, one process. Prints medians over --repeats runs, and the SimPy events each
stream used on average (counted by wrapping the environment's `step`).

    python benchmarks/stream_rate.py [--streams 500] [--repeats 5]
"""
from __future__ import annotations

import argparse
import statistics
import time

import simpy

from model.scenarios import get_scenario
from model.simulation import run_stream


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


def stream_rate(streams: int, seed: int) -> tuple[float, float]:
    """Streams per second, and mean SimPy events per stream."""
    cfg = get_scenario("text-interruption")
    counted = [0]
    step = simpy.Environment.step

    def counting_step(self):
        counted[0] += 1
        return step(self)

    simpy.Environment.step = counting_step
    try:
        start = time.perf_counter()
        for i in range(streams):
            run_stream(cfg, seed, i)
        elapsed = time.perf_counter() - start
    finally:
        simpy.Environment.step = step
    return streams / elapsed, counted[0] / streams


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=500)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    rates, simpy_rates, events = [], [], []
    for r in range(args.repeats):
        simpy_rates.append(bare_simpy_rate())
        rate, ev = stream_rate(args.streams, seed=r)
        rates.append(rate)
        events.append(ev)
    stream_med, simpy_med = statistics.median(rates), statistics.median(simpy_rates)
    frames = get_scenario("text-interruption").content.frames
    print(f"streams/s (median of {args.repeats} x {args.streams}): {stream_med:,.0f}")
    print(f"bare SimPy env.timeout events/s (median): {simpy_med:,.0f}")
    print(f"SimPy events per stream: {statistics.median(events):.1f}  "
          f"({statistics.median(events) / frames:.3f} per frame)")
    print(f"ratio stream rate / SimPy event rate: {stream_med / simpy_med:.2e} "
          f"(= {simpy_med / stream_med:,.0f} bare-event equivalents per stream)")


if __name__ == "__main__":
    main()
