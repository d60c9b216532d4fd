"""Profile of the standard stream: where a stream's time goes, by share.

Runs `simulate` on the `text-interruption` scenario (the bulk engine, its tables included) under
cProfile and sums the profile into the shares the performance work is steered by: the SimPy kernel
(its own code: scheduling, stepping, resuming processes), seeding (the per-stream generators),
the weather, content (frames and their digests), fast loss recovery (`link.fast_recovery`), the
client's acks, the records (the server applying its queued acks included) and tables, the garbage
collection once a session, and the rest of the model's code around the events. cProfile's overhead
inflates cheap, frequent calls, so the shares are a guide, not a measurement of speed
(`stream_rate.py` is that).

    python benchmarks/profile_stream.py [--streams 400] [--top 25]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats

from model import get_scenario
from model.simulation import simulate

# share -> (module path fragment, function name) whose cumulative time it is; None: every function
# of that file, own time only
SHARES = {
    "seeding (per-stream generators)": [
        ("model/seeds.py", "component_rng"),  # before 0.2.0: five seed sequences per stream
        ("model/seeds.py", "stream_rngs"),
        ("model/seeds.py", "__missing__"),
    ],
    "weather (conditions, disconnect events)": [("model/network.py", "__init__")],
    "content (frames, digests)": [("model/content.py", "make_frames")],
    "fast loss recovery (repair)": [
        ("model/link.py", "_repair"),  # before lazy repair
        ("model/link.py", "settle"),  # before 0.2.3 (the connection had its own module)
        ("model/connection.py", "settle"),
        ("model/recovery.py", "message_sent"),
    ],
    "acks (the client sending them)": [
        ("model/client/acking.py", "slept"),
        ("model/client/acking.py", "tick"),
    ],
    "records (one per stream)": [("model/simulation.py", "record")],
    "tables (DataFrames)": [("model/simulation.py", "tables")],
    "SimPy kernel (own time)": [("simpy/", None)],
    "garbage collection (once a session)": [("~", "<built-in method gc.collect>")],
}


def shares(stats: pstats.Stats) -> tuple[float, dict[str, float]]:
    """Total time of `simulate` and the seconds of each share."""
    out = dict.fromkeys(SHARES, 0.0)
    for (path, _line, name), (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():
        for share, keys in SHARES.items():
            for fragment, function in keys:
                if fragment in path and (function is None or function == name):
                    out[share] += tottime if function is None else cumtime
    return stats.total_tt, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=400)
    p.add_argument("--top", type=int, default=0, help="also print the top functions by own time")
    args = p.parse_args()
    cfg = get_scenario("text-interruption")
    simulate(cfg, 20, seed=0)  # warm: imports and caches
    profiler = cProfile.Profile()
    profiler.runcall(simulate, cfg, args.streams, 1)
    stats = pstats.Stats(profiler)
    total, seconds = shares(stats)
    print(f"profile of {args.streams} standard streams (simulate, cProfile): {total:.2f} s")
    for share, s in seconds.items():
        print(f"  {share:42s} {s / total:6.1%}")
    rest = total - sum(seconds.values())
    print(f"  {'the rest: model code around the events':42s} {rest / total:6.1%}")
    if args.top:
        stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
