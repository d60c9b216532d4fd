"""Benchmark: how the cost of the model scales — in frames per stream, in streams, in memory, across
workers.

Five sections, each printing its figures, then a summary table setting each figure next to its
target. Timings are wall-clock medians of --repeats runs (same seed every repeat: the same work, so
the spread is timing noise only) on a shared machine: read them as figures, not verdicts.

Sections run in the order memory, frames, streams, disconnects, parallel (memory first: see
below).

- frames: the `text-interruption` scenario at content.frames = 100 ... 10,000 (a 100x range), a
  fixed number of streams each, in one process (`simulate`). Seconds per stream, the marginal cost
  per frame between sizes, the log-log slope (all sizes and the largest three) and a fit
  a + b * frames (a: fixed cost per stream, b: cost per frame). The fixed cost pulls the log-log
  slope below 1 at small sizes, so both are shown. More frames make a longer stream in simulated
  time, hence more disconnects and ack ticks: that is part of the cost. SimPy events per stream
  (counted on a few streams, untimed) tell growth by more events from growth by dearer events; the
  process's peak RSS (VmHWM) after each size shows memory growing with frames.
- streams: the standard stream (1,000 frames), 100 ... 10,000 streams in one process; seconds,
  microseconds per stream and the log-log slope.
- disconnects: the standard stream at disconnects.rate_scale = 1 ... 32, resuming and restarting
  (the corners of the report's sweep), in one process: milliseconds per stream, disconnects per
  stream and a fit a + b * disconnects per strategy (b: the cost of one disconnect). A restart
  regenerates and resends the whole response, so its b grows with the frames.
- memory: `run(cfg, 100_000, seed, workers=2)` in a fresh interpreter (this one's high-water marks
  would carry the earlier sections, and forked workers would inherit its heap). It runs first
  because on Linux a process started by fork + exec inherits its launcher's RSS into its own
  ru_maxrss: launched after the other sections, it would report their memory. Peak RSS summed
  over the process tree (run's process + workers), sampled from /proc every 0.1 s; PSS likewise
  (pages shared after fork counted once); ru_maxrss of the run's process and of its largest worker
  for comparison; wall time and streams/s. MB = 10^6 bytes; the target is 1 GB = 1,000 MB.
- parallel: `run(cfg, 10_000, seed)` with workers=1 (in-process) against workers=2 (process
  pool): efficiency T1 / (2 * T2), and whether both give identical stream tables. The memory and
  parallel sections also print the cores our processes kept busy and the cores everything else on
  the machine used meanwhile (/proc/stat): a competing load explains a low efficiency.

    python benchmarks/scaling.py [--quick] [--only frames,streams,disconnects,memory,parallel]
                                 [--repeats 3] [--seed 1] [--workers 2]

--quick runs tiny sizes (a smoke test, well under 30 s); the full run takes a few minutes on 2
cores.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model import Scenario, apply_overrides, get_scenario, run
from model.simulation import CountingEnvironment, run_session, simulate

SCENARIO = "text-interruption"
SECTIONS = ("memory", "frames", "streams", "disconnects", "parallel")  # the order they run in
MEMORY_TARGET_MB = 1000.0
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
MB = 1e6


@dataclass(frozen=True)
class Sizes:
    frames: tuple[int, ...]  # content.frames values (frames section)
    frames_streams: int  # streams simulated at each frames value
    count_streams: int  # streams whose SimPy events are counted (untimed)
    streams: tuple[int, ...]  # stream counts (streams section)
    rate_scales: tuple[float, ...]  # disconnects.rate_scale values (disconnects section)
    rate_streams: int  # streams simulated at each of them
    memory_streams: int
    parallel_streams: int


FULL = Sizes(
    frames=(100, 300, 1000, 3000, 10_000),
    frames_streams=200,
    count_streams=20,
    streams=(100, 300, 1000, 3000, 10_000),
    rate_scales=(1, 4, 16, 32),
    rate_streams=100,
    memory_streams=100_000,
    parallel_streams=10_000,
)
QUICK = Sizes(
    frames=(100, 300, 1000),
    frames_streams=10,
    count_streams=3,
    streams=(20, 60, 200),
    rate_scales=(1, 8),
    rate_streams=5,
    memory_streams=1000,
    parallel_streams=400,
)

Row = tuple[str, str, str]  # summary: what, measured, target


# ---------------------------------------------------------------- fits and timing (pure helpers)


def loglog_slope(x, y) -> float:
    """Exponent k of y ~ x^k by least squares on log-log axes (1.0 = linear growth)."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def linear_fit(x, y) -> tuple[float, float]:
    """(a, b) of y = a + b * x, least squares on relative errors: unweighted, the largest sizes
    would dominate and the fixed cost a (visible only at small sizes) would be lost in their
    noise."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    b, a = np.polyfit(x, y, 1, w=1.0 / y)
    return float(a), float(b)


def worst_relative_residual(x, y, a: float, b: float) -> float:
    """Largest |y - (a + b x)| / y: small when cost really is fixed + linear."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    return float(np.max(np.abs(y - (a + b * x)) / y))


def marginal_costs(x, y) -> list[float]:
    """Cost of one more unit between consecutive sizes; rising values mean superlinear growth."""
    return [(y1 - y0) / (x1 - x0) for x0, x1, y0, y1 in zip(x, x[1:], y, y[1:])]


def timed_median(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median wall seconds of `repeats` calls of fn, and the last call's result."""
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its waited-for descendants (pool workers,
    the memory run's whole tree)."""
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used since boot (first line of /proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def with_cpu_share(fn: Callable[[], object]) -> tuple[object, float, float]:
    """fn's result, and the average cores kept busy meanwhile by us and by everything else."""
    wall, ours, machine = time.perf_counter(), cpu_seconds(), machine_busy_seconds()
    result = fn()
    wall = time.perf_counter() - wall
    ours = (cpu_seconds() - ours) / wall
    return result, ours, max(0.0, (machine_busy_seconds() - machine) / wall - ours)


def peak_rss_of_this_process() -> int:
    """VmHWM: the high-water mark of this process's resident set."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def simpy_events_per_stream(cfg: Scenario, streams: int, seed: int) -> float:
    """SimPy events per stream."""
    events = sum(
        run_session(cfg, seed, i, env_class=CountingEnvironment).env.events_processed
        for i in range(streams)
    )
    return events / streams


# ---------------------------------------------------------------- section: frames

# The standard 100 kB buffer holds about 2,000 text frames: longer responses block, and every ack
# then releases a small send (dearer per frame than one big send), so the standard series mixes two
# regimes; the other two series each keep one, isolating the growth itself.
BUFFER_REGIMES = {
    "standard buffer": [],
    "whole response fits the buffer": ["server.buffer_bytes=1e12"],
    "5 kB buffer: a send per ack": ["server.buffer_bytes=5000"],
}


def with_frames(frames: int, extra: list[str]) -> Scenario:
    return apply_overrides(get_scenario(SCENARIO), [f"content.frames={frames}", *extra])


def bench_frames(sizes: Sizes, repeats: int, seed: int) -> list[Row]:
    rows = []
    for label, extra in BUFFER_REGIMES.items():
        rows += bench_frames_series(sizes, repeats, seed, label, extra)
    return rows


def bench_frames_series(
    sizes: Sizes, repeats: int, seed: int, label: str, extra: list[str]
) -> list[Row]:
    n = sizes.frames_streams
    print(
        f"\n== cost vs frames per stream ({label}): {SCENARIO}, {n} streams per size, one process, "
        f"median of {repeats}"
    )
    per_stream = []
    print(
        f"{'frames':>8} {'ms/stream':>10} {'marg us/frame':>14} {'disc/stream':>12} "
        f"{'events/stream':>14} {'us/event':>9} {'peak RSS MB':>12}"
    )
    for frames in sizes.frames:
        cfg = with_frames(frames, extra)
        seconds, res = timed_median(functools.partial(simulate, cfg, n, seed=seed), repeats)
        per_stream.append(seconds / n)
        events = simpy_events_per_stream(cfg, sizes.count_streams, seed)
        done = sizes.frames[: len(per_stream)]
        marginal = (
            marginal_costs(done, per_stream)[-1] * 1e6 if len(per_stream) > 1 else float("nan")
        )
        print(
            f"{frames:>8,} {per_stream[-1] * 1e3:>10.3f} {marginal:>14.3f} "
            f"{len(res.disconnects) / n:>12.2f} {events:>14,.0f} "
            f"{per_stream[-1] / events * 1e6:>9.2f} {peak_rss_of_this_process() / MB:>12,.0f}"
        )
    return [
        (f"{what} [{label}]", got, target)
        for what, got, target in frames_summary(sizes.frames, per_stream)
    ]


def frames_summary(frames: tuple[int, ...], per_stream: list[float]) -> list[Row]:
    span = f"{frames[0]:,}..{frames[-1]:,}"
    slope = loglog_slope(frames, per_stream)
    print(f"log-log slope, frames {span}: {slope:.3f}")
    rows = [(f"cost vs frames: log-log slope ({span})", f"{slope:.3f}", "1.0 (linear)")]
    if len(frames) > 3:  # the largest sizes alone, where the fixed per-stream cost weighs least
        top = f"{frames[-3]:,}..{frames[-1]:,}"
        slope_top = loglog_slope(frames[-3:], per_stream[-3:])
        print(f"log-log slope, largest three sizes {top}: {slope_top:.3f}")
        rows.append((f"cost vs frames: log-log slope ({top})", f"{slope_top:.3f}", "1.0 (linear)"))
    a, b = linear_fit(frames, per_stream)
    worst = worst_relative_residual(frames, per_stream, a, b)
    print(
        f"linear fit: a = {a * 1e3:.3f} ms/stream fixed + b = {b * 1e6:.3f} us/frame; "
        f"worst relative residual {worst:.1%}"
    )
    return rows + [
        ("cost vs frames: fit a + b*frames", f"a={a * 1e3:.3f} ms, b={b * 1e6:.3f} us/frame", "-"),
        ("cost vs frames: worst residual of that fit", f"{worst:.1%}", "small if linear"),
    ]


# ---------------------------------------------------------------- section: streams


def bench_streams(sizes: Sizes, repeats: int, seed: int) -> list[Row]:
    cfg = get_scenario(SCENARIO)
    print(
        f"\n== cost vs streams: {SCENARIO} ({cfg.content.frames:,} frames), one process, median "
        f"of {repeats}"
    )
    print(f"{'streams':>8} {'seconds':>9} {'us/stream':>10} {'streams/s':>10}")
    seconds = []
    for n in sizes.streams:
        seconds.append(timed_median(functools.partial(simulate, cfg, n, seed=seed), repeats)[0])
        print(
            f"{n:>8,} {seconds[-1]:>9.3f} {seconds[-1] / n * 1e6:>10.1f} {n / seconds[-1]:>10,.0f}"
        )
    slope = loglog_slope(sizes.streams, seconds)
    span = f"{sizes.streams[0]:,}..{sizes.streams[-1]:,}"
    print(f"log-log slope, streams {span}: {slope:.3f}")
    return [(f"cost vs streams: log-log slope ({span})", f"{slope:.3f}", "1.0 (linear)")]


# ---------------------------------------------------------------- section: disconnects


def bench_disconnects(sizes: Sizes, repeats: int, seed: int) -> list[Row]:
    """Cost against the disconnect rate, resuming and restarting (the report's sweep): a restart
    regenerates and resends the whole response, so its cost per disconnect grows with frames."""
    n = sizes.rate_streams
    print(
        f"\n== cost vs disconnects: {SCENARIO}, disconnects.rate_scale "
        f"{', '.join(f'{x:g}' for x in sizes.rate_scales)}, {n} streams each, one process, median "
        f"of {repeats}"
    )
    print(f"{'strategy':>8} {'rate x':>7} {'ms/stream':>10} {'disc/stream':>12}")
    simulate(get_scenario(SCENARIO), 2, seed=seed)  # warm: the first stream pays for imports
    rows = []
    for strategy in ("resume", "restart"):
        per_stream, per_disc = [], []
        for scale in sizes.rate_scales:
            sets = [f"disconnects.rate_scale={scale:g}", f"client.strategy={strategy}"]
            cfg = apply_overrides(get_scenario(SCENARIO), sets)
            seconds, res = timed_median(functools.partial(simulate, cfg, n, seed=seed), repeats)
            per_stream.append(seconds / n)
            per_disc.append(len(res.disconnects) / n)
            print(f"{strategy:>8} {scale:>7g} {per_stream[-1] * 1e3:>10.3f} {per_disc[-1]:>12.2f}")
        a, b = linear_fit(per_disc, per_stream)
        print(f"{strategy}: fit a = {a * 1e3:.3f} ms/stream + b = {b * 1e3:.3f} ms/disconnect")
        rows.append((f"cost per disconnect ({strategy})", f"{b * 1e3:.3f} ms", "-"))
    return rows


# ---------------------------------------------------------------- section: memory


def process_tree(root: int) -> list[int]:
    """root and its live descendants, from the ppid in /proc/*/stat (this kernel has no
    /proc/<pid>/task/<tid>/children)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:  # exited between the listing and the read
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the name in (...) may hold spaces
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def rss_bytes(pid: int) -> int:
    """Resident set of one process (0 if it is gone or a zombie)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return 0


def pss_bytes(pid: int) -> int:
    """Proportional set size: pages shared between processes (after fork) split among them."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


class TreeMemorySampler(threading.Thread):
    """Samples the RSS and PSS of a process tree every `interval` seconds; keeps the peaks."""

    def __init__(self, root: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.root, self.interval, self.stop = root, interval, threading.Event()
        self.peak_rss = self.peak_pss = self.peak_root_rss = self.peak_child_rss = 0
        self.samples = self.most_processes = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.interval)

    def sample(self) -> None:
        pids = process_tree(self.root)
        rss = {pid: rss_bytes(pid) for pid in pids}
        self.peak_rss = max(self.peak_rss, sum(rss.values()))
        self.peak_pss = max(self.peak_pss, sum(pss_bytes(pid) for pid in pids))
        self.peak_root_rss = max(self.peak_root_rss, rss.get(self.root, 0))
        self.peak_child_rss = max(
            [self.peak_child_rss] + [v for p, v in rss.items() if p != self.root]
        )
        self.samples += 1
        self.most_processes = max(self.most_processes, len(pids))


def memory_child(streams: int, seed: int, workers: int) -> None:
    """The measured run, in a fresh interpreter: print its figures as one JSON line."""
    cfg = get_scenario(SCENARIO)
    rss_before = rss_bytes(os.getpid())
    start = time.perf_counter()
    res = run(cfg, streams, seed, workers=workers, progress=False)
    seconds = time.perf_counter() - start
    tables = sum(int(t.memory_usage(deep=True).sum()) for t in (res.streams, res.disconnects))
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rows": len(res.streams),
                "disconnect_rows": len(res.disconnects),
                "rss_before_run": rss_before,
                "rss_after_run": rss_bytes(os.getpid()),
                "tables_bytes": tables,
                # ru_maxrss is in KiB on Linux; RUSAGE_CHILDREN is the largest single reaped child
                # (a worker)
                "maxrss_self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                "maxrss_children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
            }
        )
    )


def bench_memory(sizes: Sizes, seed: int, workers: int) -> list[Row]:
    n = sizes.memory_streams
    print(
        f"\n== peak memory: run({SCENARIO}, {n:,} streams, workers={workers}) in a fresh process, "
        f"tree sampled every 0.1 s"
    )
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--memory-child",
        str(n),
        "--seed",
        str(seed),
        "--workers",
        str(workers),
    ]
    launcher_rss = rss_bytes(os.getpid())
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    sampler = TreeMemorySampler(child.pid)
    sampler.start()
    (out, _), ours, others = with_cpu_share(child.communicate)
    sampler.stop.set()
    sampler.join()
    if child.returncode != 0:
        raise RuntimeError(f"memory run failed with exit code {child.returncode}: {' '.join(cmd)}")
    got = json.loads(out.strip().splitlines()[-1])
    print_memory(got, sampler, n)
    print(
        f"launcher (this process) RSS at launch {launcher_rss / MB:,.0f} MB (a floor of the run's "
        f"ru_maxrss); cores busy: ours {ours:.2f}, other processes {others:.2f}"
    )
    # each process's own peak, added up: an upper bound the 0.1 s sampling cannot miss
    bound = got["maxrss_self"] + workers * got["maxrss_children"]
    return [
        (
            f"peak RSS, {n:,} streams, {workers} workers (tree sum)",
            f"{sampler.peak_rss / MB:,.0f} MB",
            f"<= {MEMORY_TARGET_MB:,.0f} MB (1 GB)",
        ),
        ("  same, PSS (shared pages counted once)", f"{sampler.peak_pss / MB:,.0f} MB", "-"),
        (
            f"  upper bound: ru_maxrss run + {workers} x worker",
            f"{bound / MB:,.0f} MB",
            f"<= {MEMORY_TARGET_MB:,.0f} MB (1 GB)",
        ),
        (f"streams/s of that run ({workers} workers)", f"{n / got['seconds']:,.0f}", "-"),
    ]


def print_memory(got: dict, sampler: TreeMemorySampler, streams: int) -> None:
    print(
        f"wall time {got['seconds']:.1f} s, {streams / got['seconds']:,.0f} streams/s; "
        f"{got['rows']:,} stream rows, {got['disconnect_rows']:,} disconnect rows"
    )
    print(
        f"peak of tree (sum of RSS): {sampler.peak_rss / MB:,.0f} MB   sum of PSS: "
        f"{sampler.peak_pss / MB:,.0f} MB   ({sampler.samples} samples, up to "
        f"{sampler.most_processes} processes)"
    )
    print(
        f"sampled peaks: run's process {sampler.peak_root_rss / MB:,.0f} MB, largest worker "
        f"{sampler.peak_child_rss / MB:,.0f} MB"
    )
    print(
        f"ru_maxrss: run's process {got['maxrss_self'] / MB:,.0f} MB, largest worker "
        f"{got['maxrss_children'] / MB:,.0f} MB"
    )
    print(
        f"run's process: {got['rss_before_run'] / MB:,.0f} MB after imports, "
        f"{got['rss_after_run'] / MB:,.0f} MB after the run; result tables "
        f"{got['tables_bytes'] / MB:,.1f} MB (pandas, deep)"
    )


# ---------------------------------------------------------------- section: parallel


def bench_parallel(sizes: Sizes, repeats: int, seed: int, workers: int) -> list[Row]:
    cfg, n = get_scenario(SCENARIO), sizes.parallel_streams
    print(
        f"\n== parallel efficiency: run({SCENARIO}, {n:,} streams), workers=1 vs {workers}, "
        f"median of {repeats}"
    )
    (t1, serial), ours1, others1 = with_cpu_share(
        lambda: timed_median(lambda: run(cfg, n, seed, workers=1, progress=False), repeats)
    )
    (tw, pooled), ours_w, others_w = with_cpu_share(
        lambda: timed_median(lambda: run(cfg, n, seed, workers=workers, progress=False), repeats)
    )
    efficiency = t1 / (workers * tw)
    identical = serial.streams.equals(pooled.streams) and serial.disconnects.equals(
        pooled.disconnects
    )
    print(
        f"workers=1: {t1:.2f} s ({n / t1:,.0f} streams/s)   workers={workers}: {tw:.2f} s "
        f"({n / tw:,.0f} streams/s)   speed-up {t1 / tw:.2f}x"
    )
    print(
        f"cores busy, workers=1: ours {ours1:.2f}, other processes {others1:.2f};   "
        f"workers={workers}: ours {ours_w:.2f}, other processes {others_w:.2f}"
    )
    print(f"parallel efficiency T1 / ({workers} * T{workers}): {efficiency:.3f}")
    print(f"identical tables (streams and disconnects): {'yes' if identical else 'NO'}")
    return [
        (
            f"parallel efficiency, {workers} workers, {n:,} streams",
            f"{efficiency:.3f}",
            "1.0 (ideal)",
        ),
        ("  other processes' load meanwhile (cores)", f"{others_w:.2f}", f"0 of {os.cpu_count()}"),
        (f"identical tables, workers 1 vs {workers}", "yes" if identical else "NO", "yes"),
    ]


# ---------------------------------------------------------------- main


def print_summary(rows: list[Row]) -> None:
    width = max(len(r[0]) for r in rows + [("target", "", "")]) + 2
    measured = max(len(r[1]) for r in rows + [("", "measured", "")]) + 2
    print("\n== summary")
    print(f"{'target':<{width}}{'measured':<{measured}}target value")
    for what, got, want in rows:
        print(f"{what:<{width}}{got:<{measured}}{want}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test in a few seconds")
    p.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections of {','.join(SECTIONS)}",
    )
    p.add_argument("--repeats", type=int, default=3, help="runs per timing; the median is reported")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--workers", type=int, default=2, help="workers of the memory and parallel sections"
    )
    p.add_argument(
        "--memory-child", type=int, metavar="STREAMS", help=argparse.SUPPRESS
    )  # internal
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SECTIONS)
    if unknown or not args.only:
        p.error(
            f"--only {','.join(sorted(unknown)) or '(empty)'}: choose from {','.join(SECTIONS)}"
        )
    if args.repeats < 1 or args.workers < 1:
        p.error("--repeats and --workers must be at least 1")
    return args


def code_version() -> str:
    """The commit measured (+ '-dirty' with uncommitted changes): the model changes under
    benchmarks."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_child is not None:
        memory_child(args.memory_child, args.seed, args.workers)
        return 0
    sizes = QUICK if args.quick else FULL
    print(
        f"{os.cpu_count()} cores; {'quick' if args.quick else 'full'} sizes; seed {args.seed}; "
        f"code {code_version()}"
    )
    rows: list[Row] = []
    if "memory" in args.only:  # first: while this process is small (see the module docstring)
        rows += bench_memory(sizes, args.seed, args.workers)
    if "frames" in args.only:
        rows += bench_frames(sizes, args.repeats, args.seed)
    if "streams" in args.only:
        rows += bench_streams(sizes, args.repeats, args.seed)
    if "disconnects" in args.only:
        rows += bench_disconnects(sizes, args.repeats, args.seed)
    if "parallel" in args.only:
        rows += bench_parallel(sizes, args.repeats, args.seed, args.workers)
    print_summary(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
