"""Benchmark: N standard streams (text-interruption) on a Dask LocalCluster against the process
pool, on this machine.

Each measurement runs in a fresh interpreter (its peak RSS is then its own):
- pool: `run(cfg, N, seed, workers=W)`, every row gathered into this process's memory, verdicts
  computed from them in memory (the reference);
- dask: a LocalCluster of W single-threaded worker processes; `run(..., executor=client,
  workdir=DIR, gather=False)` — the workers write each chunk as parts of a Parquet dataset and no
  row comes back — then the verdicts by streaming aggregation over the dataset
  (`model.aggregate`). Timed from the first chunk submitted to the last part written (the
  cluster's start-up, a few seconds, is shown apart). Run at N and at N/10: the client's peak RSS
  should not grow with N.
- serial: the first S streams (the slice) in one process, no pool.

Printed: streams/s of each, the throughput ratio dask/pool, streams/s per core, the peak RSS
(VmHWM) of each client process, whether the verdict tables are equal (dataset vs in memory), and
whether the tables of the first S streams are identical on the three executors (digests of the
rows). The machine is shared: timings are figures, not verdicts.

    python benchmarks/scale_out.py [--streams 20000] [--workers 2] [--slice 10000] [--seed 1]
    python benchmarks/scale_out.py --streams 1000000 --pool-streams 100000   # the 10^6 run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIO = "text-interruption"
MB = 1e6


def peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def digest(res, sessions: int) -> str:
    """SHA-256 of the rows of the first `sessions` sessions of both tables."""
    import pandas as pd

    s = res.streams[res.streams.session < sessions]
    d = res.disconnects[res.disconnects.stream.isin(s.stream)]
    h = hashlib.sha256()
    for table in (s, d):
        h.update(pd.util.hash_pandas_object(table.reset_index(drop=True), index=True).values)
    return h.hexdigest()


def child(
    mode: str, streams: int, workers: int, seed: int, sessions_slice: int, in_memory: bool = False
) -> dict:
    from model import get_scenario, run, slo

    cfg = get_scenario(SCENARIO)
    out: dict = {"mode": mode, "streams": streams}
    if mode == "pool":
        start = time.perf_counter()
        res = run(cfg, streams, seed, workers=workers, progress=False)
        out["seconds"] = time.perf_counter() - start
        out["verdicts"] = slo.verdicts(res, cfg.slo).to_json()
        out["digest"] = digest(res, sessions_slice)
    elif mode == "serial":
        start = time.perf_counter()
        res = run(cfg, streams, seed, executor="serial", progress=False)
        out["seconds"] = time.perf_counter() - start
        out["digest"] = digest(res, sessions_slice)
    else:
        from distributed import Client, LocalCluster

        from model.aggregate import dataset_evidence
        from model.dataset import PartStore, iter_parts, parts_of
        from model.runner import concat_results, provenance

        start = time.perf_counter()
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            Client(cluster) as client,
            tempfile.TemporaryDirectory() as tmp,
        ):
            out["startup_seconds"] = time.perf_counter() - start
            start = time.perf_counter()
            run(cfg, streams, seed, executor=client, workdir=tmp, gather=False, progress=False)
            out["seconds"] = time.perf_counter() - start
            PartStore.open(tmp, cfg, seed).seal(streams, provenance(cfg, [], seed, streams))
            start = time.perf_counter()
            ev, _ = dataset_evidence(tmp)
            out["verdicts"] = slo.verdicts(ev, cfg.slo).to_json()
            out["aggregate_seconds"] = time.perf_counter() - start
            out["dataset_mb"] = sum(p.stat().st_size for p in Path(tmp).rglob("*")) / MB
            store, chunks, _ = parts_of(tmp)
            head = [c for c in chunks if c.first < sessions_slice]
            columns = {t: None for t in ("streams", "disconnects")}
            out["digest"] = digest(
                concat_results(list(iter_parts(store, head, columns))), sessions_slice
            )
            out["peak_rss"] = peak_rss()  # before the check below loads every row
            if in_memory:  # the same rows judged in memory, as the pool's run is
                rows = concat_results(list(iter_parts(store, chunks, columns)))
                out["verdicts_in_memory"] = slo.verdicts(rows, cfg.slo).to_json()
    out.setdefault("peak_rss", peak_rss())
    return out


def measure(mode: str, streams: int, args, in_memory: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--streams", str(streams)]
    cmd += ["--workers", str(args.workers), "--seed", str(args.seed), "--slice", str(args.slice)]
    cmd += ["--in-memory"] if in_memory else []
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{mode} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=int, default=20_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--slice", type=int, default=10_000, help="streams compared on all executors")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--pool-streams",
        type=int,
        help="streams of the process pool's reference run (default --streams; fewer for a long "
        "--streams: its throughput is a rate, and the dask run then judges its own rows in memory "
        "too, after its client's peak RSS is taken)",
    )
    p.add_argument("--child", choices=["pool", "dask", "serial"], help=argparse.SUPPRESS)
    p.add_argument("--in-memory", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.slice = min(args.slice, args.streams, args.pool_streams or args.streams)
    if args.child:
        r = child(args.child, args.streams, args.workers, args.seed, args.slice, args.in_memory)
        print(json.dumps(r))
        return

    n, w = args.streams, args.workers
    pool_n = args.pool_streams or n
    print(f"== scale-out: {SCENARIO}, {n:,} streams, {w} workers, seed {args.seed}")
    pool = measure("pool", pool_n, args)
    dask = measure("dask", n, args, in_memory=pool_n != n)
    small = measure("dask", max(n // 10, args.slice), args)
    serial = measure("serial", args.slice, args)
    rate = {name: r["streams"] / r["seconds"] for name, r in (("pool", pool), ("dask", dask))}
    print(f"process pool : {pool['seconds']:8.1f} s for {pool_n:,}  {rate['pool']:8.1f} streams/s  "
          f"client peak RSS {pool['peak_rss'] / MB:6.0f} MB (holds every row)")  # fmt: skip
    print(f"dask cluster : {dask['seconds']:8.1f} s  {rate['dask']:8.1f} streams/s  "
          f"client peak RSS {dask['peak_rss'] / MB:6.0f} MB "
          f"(cluster start-up {dask['startup_seconds']:.1f} s, not counted)")  # fmt: skip
    print(f"dask, {small['streams']:,} streams: client peak RSS {small['peak_rss'] / MB:.0f} MB")
    print(f"dataset: {dask['dataset_mb']:.1f} MB on disk; verdicts aggregated from it in "
          f"{dask['aggregate_seconds']:.1f} s")  # fmt: skip
    print("\n== summary")
    print(f"throughput dask / process pool: {rate['dask'] / rate['pool']:.3f}")
    print(f"streams/s per core (process pool): {rate['pool'] / w:.1f}")
    print(f"client peak RSS on dask: {dask['peak_rss'] / MB:.0f} MB at {n:,} streams, "
          f"{small['peak_rss'] / MB:.0f} MB at {small['streams']:,}")  # fmt: skip
    reference = dask.get("verdicts_in_memory", pool["verdicts"])
    equal = dask["verdicts"] == reference
    print(
        f"verdicts from the dataset equal those of the same {n:,} streams' rows in memory: {equal}"
    )
    same = pool["digest"] == dask["digest"] == serial["digest"]
    print(f"tables of the first {args.slice:,} streams identical on serial, pool, dask: {same}")


if __name__ == "__main__":
    main()
