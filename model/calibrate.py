"""Calibrate the model against a real stack: N real streams and the model on the same seeds.

`calibrate(cfg, streams, seed)` runs streams 0..N-1 of `cfg` on the real WebSocket stack of
`model.testbed` (real TCP on loopback, faults applied by the kernel from the weather of the same
seed tree), then `simulate` of the same streams of the model configured as the testbed runs, and
compares them with `model.fidelity.fidelity_table`: real stream i and model stream i saw the same
weather, so their figures are paired.

The model is matched to loopback, each setting only where the user has not `--set` it:
- `link.propagation` = half the loopback round-trip time: the testbed's `provenance["rtt_s"]`
  when it reports one, else the median of 200 one-byte TCP round trips measured here;
- `network.<condition>.jitter` = the server's event-loop lag, for every condition: loopback
  adds no network jitter (and the kernel here cannot add any: no `sch_netem`), but every frame
  the real server generates waits for its loop's timer, which wakes late (asyncio's epoll
  timeout is whole milliseconds, and the loop may be busy with other streams). The lag is
  measured in the same run (the testbed's `provenance["loop_lag"]["server"]`) and matched as the
  lognormal with its median and 99th percentile; without that measurement, constant 0;
- `link.bandwidth` = loopback TCP throughput (the testbed's `provenance["bandwidth_bytes_per_s"]`,
  else 8 MiB timed through a loopback socket here: an upper bound on what a WebSocket stack
  reaches, and far above what text streams need);
- `server.processing` = what the server's framework takes to answer, per handshake round trip:
  the median time of the real streams' first connections (before any fault; the testbed's
  `provenance["first_connect_s"]`) over `client.handshake_rtts`, less the RTT and the mean
  jitter of its two legs (the model draws jitter on every handshake leg too). It is measured on
  the same run, as the RTT is, and covers the asyncio and websockets work of both processes;
- then every `path: value` of the testbed's `provenance["model_overrides"]`: settings the
  testbed says it could not apply, stated by the testbed rather than guessed here.
Everything else (the weather: conditions, disconnect times, kinds and outages; loss; the
protocol's timers and backoff; the content) is the scenario's, as the testbed applies it.

Real streams take real time: about `content.frames` x `server.gap` plus the outages per stream,
divided by the concurrency (`expected_seconds`).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from model import fidelity, figures, runner
from model.config import CONDITIONS, ConfigError, Scenario, apply_overrides
from model.distributions import Dist
from model.simulation import Results

__all__ = [
    "calibrate",
    "load_calibration",
    "write_calibration",
    "compare",
    "Calibration",
    "TestbedUnavailable",
    "load_testbed",
    "matched_config",
    "loopback_probe",
    "expected_seconds",
    "TABLES",
]

TESTBED_MODULE = "model.testbed"
TABLES = ("real_streams", "real_disconnects", "model_streams", "model_disconnects", "faults")


class TestbedUnavailable(RuntimeError):
    """The real stack cannot run here (no root, no nftables, or model.testbed is missing)."""


@dataclass
class Calibration:
    """A calibration run: both sides' tables, the faults applied, the comparison and provenance."""

    real: Results
    model: Results
    faults: pd.DataFrame
    table: pd.DataFrame  # model.fidelity.fidelity_table
    checks: pd.DataFrame  # model.fidelity.acceptance
    provenance: dict

    def figure(self) -> Figure:
        return fidelity.ecdf_figure(self.real, self.model, self.provenance.get("scenario", ""))


# ---------------------------------------------------------------- the real stack


def load_testbed(testbed=None):
    """The real-stack module (default `model.testbed`, or a module name, or any object with
    `run_testbed` and `check_available`), checked to run here; else TestbedUnavailable."""
    name = testbed if isinstance(testbed, str) else TESTBED_MODULE
    if testbed is None or isinstance(testbed, str):
        try:
            testbed = importlib.import_module(name)
        except ImportError as e:
            raise TestbedUnavailable(f"the real stack ({name}) cannot be imported: {e}") from None
    reason = testbed.check_available()
    if reason:
        raise TestbedUnavailable(f"the real stack cannot run here: {reason}")
    return testbed


def expected_seconds(cfg: Scenario, streams: int, concurrency: int) -> float:
    """Rough real time of `streams` real streams: generation time plus the expected outage time
    of each (at the initial condition's disconnect rate), `concurrency` at a time."""
    generating = cfg.content.frames * cfg.server.gap.mean()
    rate = cfg.network.condition(cfg.network.initial).disconnect_rate * cfg.disconnects.rate_scale
    scheduled = sum(outage for _, _, outage in cfg.disconnects.scheduled())
    per_stream = generating * (1 + rate * cfg.disconnects.outage.mean()) + scheduled
    return streams * per_stream / max(1, min(concurrency, streams))


def loopback_probe(
    rounds: int = 200, bulk: int = 8 << 20, timeout: float = 5.0
) -> tuple[float, float]:
    """(median round-trip time in s, throughput in B/s) of TCP on 127.0.0.1, measured with a
    listener of our own that serves this one client and stops (every wait bounded by `timeout`)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(timeout)
        peer = threading.Thread(target=_probe_peer, args=(server, rounds, timeout), daemon=True)
        peer.start()
        with socket.create_connection(server.getsockname(), timeout=timeout) as c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            rtts = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                c.sendall(b"p")
                c.recv(1)
                rtts.append(time.perf_counter() - t0)
            chunk, t0 = bytes(1 << 16), time.perf_counter()
            for _ in range(bulk // len(chunk)):
                c.sendall(chunk)
            c.shutdown(socket.SHUT_WR)
            c.recv(1)  # the peer has read everything
            throughput = bulk // len(chunk) * len(chunk) / (time.perf_counter() - t0)
        peer.join(timeout)
    return float(np.median(rtts)), float(throughput)


def _probe_peer(server: socket.socket, rounds: int, timeout: float) -> None:
    conn, _ = server.accept()
    with conn:
        conn.settimeout(timeout)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(rounds):
            conn.sendall(conn.recv(1))
        while conn.recv(1 << 16):
            pass
        conn.sendall(b"k")


def _user_set(overrides, prefix: str) -> bool:
    paths = (
        overrides.keys()
        if isinstance(overrides, dict)
        else (o.partition("=")[0].strip() for o in overrides)
    )
    return any(p == prefix or p.startswith(prefix + ".") for p in paths)


def matched_config(
    cfg: Scenario, overrides, testbed_provenance: dict, probe=loopback_probe
) -> tuple[Scenario, dict]:
    """The model configured as the testbed runs (see the module docstring) and what was matched:
    {path: {"value": v, "why": text}}. `probe` measures loopback where the testbed is silent."""
    matched: dict[str, dict] = {}

    def match(path: str, value, why: str) -> None:
        if not _user_set(overrides, path):
            matched[path] = {"value": value, "why": why}

    if not (_user_set(overrides, "link.propagation") and _user_set(overrides, "link.bandwidth")):
        (rtt, rtt_from), (bandwidth, bw_from) = _loopback(testbed_provenance, probe)
        match(
            "link.propagation", rtt / 2, f"half the loopback RTT ({rtt * 1e6:.0f} us), " + rtt_from
        )
        match("link.bandwidth", bandwidth, f"loopback TCP throughput, {bw_from}")
    jitter, why = loop_lag_jitter(testbed_provenance)
    for cond in CONDITIONS:
        if not _user_set(overrides, f"network.{cond}.jitter"):
            for field in ("kind", "scale", "shape"):
                match(f"network.{cond}.jitter.{field}", getattr(jitter, field), why)
    connect = testbed_provenance.get("first_connect_s")
    if connect is not None and not _user_set(overrides, "server.processing"):
        rtts = cfg.client.handshake_rtts
        rtt = 2 * matched.get("link.propagation", {}).get("value", cfg.link.propagation)
        # the jitter the model draws on a first connection's legs: its initial condition's
        initial = cfg.network.initial
        first = jitter if f"network.{initial}.jitter.kind" in matched else None
        legs = 2 * (first or cfg.network.condition(initial).jitter).mean()
        match(
            "server.processing",
            max(0.0, connect / rtts - rtt - legs),
            f"the real first connections' median ({connect * 1e3:.2f} ms) over "
            f"{rtts} handshake round trips, less the RTT and two legs' mean jitter",
        )
    for path, value in (testbed_provenance.get("model_overrides") or {}).items():
        match(path, value, "stated by the testbed")
    return apply_overrides(cfg, {p: m["value"] for p, m in matched.items()}), matched


Z99 = 2.3263478740408408  # the standard normal's 99th percentile


def loop_lag_jitter(prov: dict) -> tuple[Dist, str]:
    """The jitter matching the real server loop's timer lag (module docstring), and why."""
    lag = (prov.get("loop_lag") or {}).get("server") or {}
    median, p99 = lag.get("median"), lag.get("p99")
    if median is None or p99 is None or not 0 < median < p99:
        return Dist("constant", 0.0), "no jitter on loopback (no loop lag measured)"
    why = (
        f"the real server loop's timer lag (median {median * 1e3:.2f} ms, 99th percentile "
        f"{p99 * 1e3:.2f} ms, {lag.get('n')} wake-ups); loopback itself has no jitter"
    )
    shape = math.log(p99 / median) / Z99  # the lognormal's log-sd through both quantiles
    return Dist("lognormal", float(median), shape), why


def _loopback(prov: dict, probe) -> tuple[tuple[float, str], tuple[float, str]]:
    """((RTT, where from), (throughput, where from)): the testbed's figures, else measured here."""
    reported = {k: prov.get(k) for k in ("rtt_s", "bandwidth_bytes_per_s")}
    measured = probe() if None in reported.values() else (None, None)
    return tuple(
        (float(v), "reported by the testbed")
        if v is not None
        else (float(m), "measured here on 127.0.0.1")
        for v, m in zip(reported.values(), measured)
    )


# ---------------------------------------------------------------- running and comparing


def compare(
    real: Results,
    model: Results,
    *,
    faults: pd.DataFrame | None = None,
    provenance: dict | None = None,
    tolerance: float = fidelity.PAIR_TOLERANCE,
) -> Calibration:
    """The comparison of two sides' tables (no running)."""
    table = fidelity.fidelity_table(real, model, tolerance)
    return Calibration(
        Results(real.streams, real.disconnects),
        Results(model.streams, model.disconnects),
        faults if faults is not None else pd.DataFrame(),
        table,
        fidelity.acceptance(table),
        dict(provenance or {}),
    )


def calibrate(
    cfg: Scenario,
    streams: int,
    seed: int = 0,
    *,
    out: Path | None = None,
    concurrency: int = 16,
    progress: bool = True,
    overrides=(),
    testbed=None,
    probe=loopback_probe,
) -> Calibration:
    """Run streams 0..streams-1 of `cfg` on the real stack and in the model (matched to loopback,
    see the module docstring), compare them, and write everything to `out` when given.

    `overrides` are the user's `path=value` settings already applied to `cfg` (recorded, and never
    replaced by a matched value); `testbed` is `load_testbed`'s argument. Raises
    TestbedUnavailable before any work when the real stack cannot run here."""
    bed = load_testbed(testbed)
    say = (lambda msg: print(msg, file=sys.stderr)) if progress else (lambda msg: None)
    say(
        f"calibrate: {streams:,} real streams of {cfg.name}, {concurrency} at a time: about "
        f"{expected_seconds(cfg, streams, concurrency) / 60:.1f} min of real time"
    )
    t0 = time.perf_counter()
    real = bed.run_testbed(cfg, streams, seed, concurrency=concurrency, progress=progress)
    t1 = time.perf_counter()
    bed_prov = dict(getattr(real, "provenance", None) or {})
    model_cfg, matched = matched_config(cfg, overrides, bed_prov, probe)
    model = runner.run(model_cfg, streams, seed, workers=1, executor="serial", progress=progress)
    t2 = time.perf_counter()
    overrides = (
        [f"{k}={v}" for k, v in overrides.items()]
        if isinstance(overrides, dict)
        else list(overrides)
    )
    sets = "".join(f" --set {o}" for o in overrides)
    prov = {
        **runner.provenance(cfg, overrides, seed, streams),
        "command": f"midstream calibrate {cfg.name} --streams {streams} --seed {seed} "
        f"--concurrency {concurrency}{sets}",
        "concurrency": concurrency,
        "pair_tolerance": fidelity.PAIR_TOLERANCE,
        "matched": matched,
        "model_config": runner._json_safe(dataclasses.asdict(model_cfg)),
        "testbed": runner._json_safe(bed_prov),
        "seconds": {"real stack": round(t1 - t0, 1), "model": round(t2 - t1, 1)},
    }
    cal = compare(real, model, faults=getattr(real, "faults", None), provenance=prov)
    if out is not None:
        write_calibration(cal, Path(out))
    return cal


# ---------------------------------------------------------------- files


def _frames(cal: Calibration) -> dict[str, pd.DataFrame]:
    return dict(
        zip(
            TABLES,
            (
                cal.real.streams,
                cal.real.disconnects,
                cal.model.streams,
                cal.model.disconnects,
                cal.faults,
            ),
        )
    )


def write_calibration(cal: Calibration, out: Path) -> None:
    """Write the tables (Parquet), fidelity.csv, ecdf.png and, last, fidelity.json (provenance,
    table, checks, reading): a directory with fidelity.json is complete. Each file is written
    atomically."""
    out.mkdir(parents=True, exist_ok=True)
    for name, df in _frames(cal).items():
        runner._atomic_write(
            out / f"{name}.parquet", lambda tmp, df=df: df.to_parquet(tmp, index=False)
        )
    runner._atomic_write(out / "fidelity.csv", lambda tmp: cal.table.to_csv(tmp, index=False))
    fig = cal.figure()
    png = figures.png_bytes(fig)
    runner._atomic_write(out / "ecdf.png", lambda tmp: Path(tmp).write_bytes(png))
    doc = {
        "provenance": cal.provenance,
        "reading": fidelity.reading(cal.table, cal.checks),
        "ecdf_caption": fig.caption,
        "table": _records(cal.table),
        "checks": _records(cal.checks),
    }
    text = json.dumps(runner._json_safe(doc), indent=2, allow_nan=False, default=str)
    runner._atomic_write(out / "fidelity.json", lambda tmp: Path(tmp).write_text(text + "\n"))


def _records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records"))  # NaN -> null


def load_calibration(path: str | Path) -> Calibration:
    """A calibration directory written by `calibrate(out=...)` / `midstream calibrate --out`; the
    comparison is recomputed from its tables (it is a pure function of them)."""
    path = Path(path)
    meta = path / "fidelity.json"
    missing = [
        f for f in ["fidelity.json"] + [f"{n}.parquet" for n in TABLES] if not (path / f).is_file()
    ]
    if missing:
        raise ConfigError(
            "calibration",
            str(path),
            "a directory written by `midstream calibrate "
            "--out` (missing: " + ", ".join(missing) + ")",
        )
    frames = {n: pd.read_parquet(path / f"{n}.parquet") for n in TABLES}
    prov = json.loads(meta.read_text())["provenance"]
    return compare(
        Results(frames["real_streams"], frames["real_disconnects"]),
        Results(frames["model_streams"], frames["model_disconnects"]),
        faults=frames["faults"],
        provenance=prov,
        tolerance=float(prov.get("pair_tolerance", fidelity.PAIR_TOLERANCE)),
    )
