"""Run streams: wire weather, link, server and client together in one SimPy environment.

`simulate(scenario, streams=N, seed=S)` is the public entry point shared by scripts, the CLI and
notebooks. It returns tidy tables: one row per stream and one per disconnect. Stream i depends only
on (seed, i), so asking for more streams never changes the first streams' rows.
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import simpy

from model import clock
from model.client import STATES, Break, Client
from model.config import Scenario
from model.content import make_frames, verify
from model.link import LinkPhysics
from model.network import Weather
from model.seeds import component_rng, stream_rngs
from model.server import Server


@dataclass
class Results:
    streams: pd.DataFrame
    disconnects: pd.DataFrame


class NetworkProcess:
    """Delivers the weather's events: a close or reset tears down every live connection of the session."""

    def __init__(self, env: simpy.Environment, weather: Weather, clients: list[Client]):
        self.env, self.weather, self.clients = env, weather, clients
        self.outages_while_streaming = dict.fromkeys((c.sid for c in clients), 0)
        self.silent_outages_while_streaming = dict.fromkeys((c.sid for c in clients), 0)
        env.process(self.run())

    def run(self):
        for ev in self.weather.events:
            yield clock.until(self.env, ev.time)
            if not any(c.proc.is_alive for c in self.clients):
                return
            for client in self.clients:
                self.hit(client, ev)

    def hit(self, client: Client, ev) -> None:
        conn = client.conn
        if not client.proc.is_alive or conn is None or not client.streaming or not conn.alive:
            return
        self.outages_while_streaming[client.sid] += 1
        if ev.kind == "half_open":
            self.silent_outages_while_streaming[client.sid] += 1
        if ev.kind in ("close", "reset"):
            conn.cut = ev.time
            seen = ev.time + (0.0 if ev.kind == "close" else client.physics.rtt_at(ev.time))
            client.notify(seen, conn, Break(ev.kind, ev.time, "close_frame" if ev.kind == "close" else "reset"))


@dataclass
class StreamRun:
    """Everything one simulated stream left behind (for tables, traces and invariant checks)."""

    stream: int
    session: int
    env: simpy.Environment
    client: Client
    server: Server
    network: NetworkProcess


@dataclass
class SessionRun:
    session: int
    env: simpy.Environment
    server: Server
    members: list[StreamRun]


def run_session(cfg: Scenario, seed: int, session: int) -> SessionRun:
    """Simulate one session (its `cfg.session.streams` concurrent streams) up to the horizon."""
    env = simpy.Environment()
    weather = Weather(cfg, component_rng(seed, session, "network"))
    server = Server(env, cfg)
    size = cfg.session.streams
    starts = np.zeros(size)
    if size > 1 and cfg.session.start_spread > 0:
        starts = component_rng(seed, session, "session").uniform(0.0, cfg.session.start_spread, size)
    clients = []
    for member in range(size):
        rngs = stream_rngs(seed, session, member)
        sid = session * size + member
        physics = LinkPhysics(cfg, weather, rngs["link"], rngs["corruption"] if cfg.link.corruption_rate > 0 else None)
        frames = make_frames(cfg.content, rngs["content"])
        gaps = cfg.server.gap.sample(rngs["server"], len(frames))
        client = Client(env, sid, cfg, physics, weather, server, len(frames), rngs["client"], start=float(starts[member]))
        server.register(sid, client, frames, gaps)
        clients.append(client)
    network = NetworkProcess(env, weather, clients)
    env.run(until=cfg.horizon)
    members = [StreamRun(c.sid, session, env, c, server, network) for c in clients]
    return SessionRun(session, env, server, members)


def run_stream(cfg: Scenario, seed: int, stream: int) -> StreamRun:
    """Simulate one single-stream session (stream i is session i)."""
    if cfg.session.streams != 1:
        raise ValueError(f"session.streams={cfg.session.streams}: run_stream needs single-stream sessions")
    return run_session(cfg, seed, stream).members[0]


def stream_row(run: StreamRun, cfg: Scenario) -> dict:
    c, h = run.client, run.client.health
    trace = run.server.trace(run.stream)
    s = run.server.streams.get(run.stream)
    end = c.ended_at if not math.isnan(c.ended_at) else cfg.horizon
    delivered = np.concatenate(h.digests) if h.digests else np.empty(0, dtype=np.uint64)
    seqs = np.concatenate(h.seqs) if h.seqs else np.empty(0, dtype=np.int64)
    content = verify(run.server.content[run.stream][0], seqs, delivered)  # integrity_ok + the kind's checks
    content["integrity_ok"] = bool(c.outcome == "completed" and content["integrity_ok"])
    row = {
        "stream": run.stream,
        "session": run.session,
        "start_time": c.started_at,
        "outcome": c.outcome,
        "error": c.error,
        "end_time": end,
        "completion_time": h.completed_at,
        "frames_total": c.n,
        "frames_delivered": h.have,
        "bytes_delivered": int(s.cum[h.have]) if s is not None else 0,
        **content,
        "duplicates_received": h.duplicates_received,
        "duplicates_delivered": 0 if (np.diff(seqs) > 0).all() else int(len(seqs) - len(np.unique(seqs))),
        "corrupt_detected": h.corrupt_detected,
        "gaps": h.gaps,
        "disconnects": len(c.disconnects),
        "outages_while_streaming": run.network.outages_while_streaming[run.stream],
        # silent outages the connection survived (no heartbeat timeout blamed on them)
        "stalls_absorbed": run.network.silent_outages_while_streaming[run.stream]
        - sum(r.cause == "half_open" for r in c.disconnects),
        "reconnect_attempts": sum(r.attempts for r in c.disconnects),
        "bytes_replayed": sum(r.bytes_replayed for r in c.disconnects),
        "bytes_missing": sum(r.bytes_missing for r in c.disconnects),
        "buffer_peak_bytes": trace.peak,
        "buffer_bytes_at_horizon": s.buffer_bytes(cfg.horizon) if s is not None else 0,
        "buffer_freed_at": s.freed_at if s is not None else math.nan,
        "buffer_released_by": s.released_by() if s is not None else 0.0,
        "session_buffer_peak_bytes": run.server.total_trace.peak,
    }
    row.update({f"time_{state}": t for state, t in time_in_states(c.log, end).items()})
    return row


def time_in_states(log: list[tuple[float, str]], end: float) -> dict[str, float]:
    """Seconds spent in each connection state up to `end`."""
    spent = dict.fromkeys(STATES, 0.0)
    for (t0, state), (t1, _) in zip(log, log[1:] + [(end, "")]):  # from the stream's start
        spent[state] += max(0.0, min(t1, end) - t0)
    return spent


def disconnect_rows(run: StreamRun) -> list[dict]:
    return [disconnect_row(run.stream, r, run.client.outcome) for r in run.client.disconnects]


def disconnect_row(stream: int, r, stream_outcome: str) -> dict:
    """One disconnect record as a row; an unrecovered one takes its stream's outcome."""
    return {
        "stream": stream, "index": r.index, "cause": r.cause, "detected_by": r.detected_by,
        "time": r.time, "detected_at": r.detected_at, "detection_delay": r.detected_at - r.time,
        "connected_at": r.connected_at, "reconnect_time": r.connected_at - r.time,
        "resumed_at": r.resumed_at, "resume_time": r.resumed_at - r.connected_at,
        "recovered_at": r.recovered_at, "recovery_time": r.recovered_at - r.time,
        "attempts": r.attempts, "backoff_wait": r.backoff_wait,
        "bytes_replayed": r.bytes_replayed, "bytes_missing": r.bytes_missing,
        "outcome": r.outcome or ("recovered" if math.isfinite(r.recovered_at) else stream_outcome),
    }


DISCONNECT_COLUMNS = ["stream", "index", "cause", "detected_by", "time", "detected_at", "detection_delay",
                      "connected_at", "reconnect_time", "resumed_at", "resume_time", "recovered_at",
                      "recovery_time", "attempts", "backoff_wait", "bytes_replayed", "bytes_missing", "outcome"]


def simulate(cfg: Scenario, streams: int, seed: int = 0, first_stream: int = 0) -> Results:
    """Simulate sessions first_stream .. first_stream+streams-1 of `cfg` under root `seed`.

    With the default single-stream sessions, a session is a stream; with `session.streams` = S,
    each of the `streams` replications holds S concurrent streams (S rows each in the stream table).
    """
    if streams < 1:
        raise ValueError(f"streams={streams}: must be a positive whole number")
    stream_rows, disc_rows = [], []
    for i in range(first_stream, first_stream + streams):
        for run in run_session(cfg, seed, i).members:
            stream_rows.append(stream_row(run, cfg))
            disc_rows.extend(disconnect_rows(run))
    return Results(pd.DataFrame(stream_rows), pd.DataFrame(disc_rows, columns=DISCONNECT_COLUMNS))


@contextlib.contextmanager
def counting_events():
    """Count the SimPy events processed inside the block, in every environment (for benchmarks and
    tests): `with counting_events() as counted: ...`, then `counted[0]`."""
    counted, step = [0], simpy.Environment.step

    def counting_step(env):
        counted[0] += 1
        return step(env)

    simpy.Environment.step = counting_step
    try:
        yield counted
    finally:
        simpy.Environment.step = step
