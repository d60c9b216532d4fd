"""Run streams: wire weather, link, server and client together in one SimPy environment.

`simulate(scenario, streams=N, seed=S)` is the public entry point shared by scripts, the CLI and
notebooks. It returns tidy tables: one row per stream and one per disconnect, typed by the schema
in `model.records`. Stream i depends only on (seed, i), so asking for more streams never changes
the first streams' rows.

`run_session` builds and runs one session from classes it is given (the SimPy environment and the
session's components), so instrumentation and fault injection are subclasses passed in, never
patches. Its result holds the live engine objects (for engine tests); analysis gets records from
`session_record` and `stream_timeline`, which re-simulate a session deterministically.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import simpy

from model import clock, importance
from model.client import Break, Broke, Client
from model.config import TEARDOWNS, DisconnectKind, Scenario
from model.content import make_frames, verify
from model.engines import Engine, engine_for
from model.link import LinkPhysics
from model.network import Weather
from model.records import (
    DISCONNECT_SCHEMA,
    STREAM_SCHEMA,
    Cause,
    DetectedBy,
    NetworkEvent,
    NetworkRecord,
    Outcome,
    SessionRecord,
    StreamRecord,
    StreamTimeline,
)
from model.seeds import component_rng, stream_rngs
from model.server import Server
from model.upstream import tcp_ack_due


@dataclass
class Results:
    streams: pd.DataFrame
    disconnects: pd.DataFrame


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it processes (for benchmarks and tests)."""

    def __init__(self, initial_time: float = 0):
        super().__init__(initial_time)
        self.events_processed = 0

    def step(self) -> None:
        self.events_processed += 1
        super().step()


class NetworkProcess:
    """Delivers the weather's events: a close or reset tears down every live connection of the
    session."""

    def __init__(self, env: simpy.Environment, weather: Weather, clients: list[Client]):
        self.env, self.weather, self.clients = env, weather, clients
        # (time, kind) of the events that struck each client while it was reading a connection
        self.struck: dict[int, list] = {c.sid: [] for c in clients}
        env.process(self.run())

    def outages_while_streaming(self, sid: int, completed_at: float) -> tuple[int, int]:
        """(events, silent ones) that struck stream `sid` while it was reading, before its last
        frame arrived: the client takes frames in at its protocol moments, so it may still be
        reading (and be struck) a little after the frame that completed it."""
        before = completed_at if not math.isnan(completed_at) else math.inf  # nan: never completed
        kinds = [kind for t, kind in self.struck[sid] if t < before]
        return len(kinds), sum(kind == DisconnectKind.HALF_OPEN for kind in kinds)

    def run(self):
        w = self.weather
        for t, kind, outage in zip(w.event_times, w.event_kinds, w.event_outages):
            yield clock.until(self.env, t)
            if not any(c.proc.is_alive for c in self.clients):
                return  # the events after the last stream ends are never made into records
            ev = NetworkEvent(t, kind, outage)
            for client in self.clients:
                self.hit(client, ev)

    def hit(self, client: Client, ev) -> None:
        conn = client.conn
        if conn is None or not conn.alive:
            return
        if not client.proc.is_alive or not client.streaming:
            conn.outlived(ev.time)  # spared: it commits what it held back for this teardown
            return
        self.struck[client.sid].append((ev.time, ev.kind))
        if ev.kind not in TEARDOWNS:
            conn.outlived(ev.time)
            return
        conn.cut = ev.time
        close = ev.kind == DisconnectKind.CLOSE
        # a reset is met when the client next sends on the connection: its TCP's ACK of the
        # frames received, else its next ack or ping
        sends = min(client.next_send(ev.time), tcp_ack_due(conn, ev.time))
        seen = ev.time if close else sends + client.physics.rtt_at(ev.time)
        brk = Break(ev.kind, ev.time, DetectedBy.CLOSE_FRAME if close else DetectedBy.RESET)
        client.notify(seen, conn, Broke(brk))


@dataclass(frozen=True)
class Components:
    """The classes a session is built from (as Ciw's `node_class` or desmod's components). The
    stream and connection classes default to the engine's (`engines.engine_for(cfg)`)."""

    server: type[Server] = Server
    client: type[Client] = Client
    network: type[NetworkProcess] = NetworkProcess
    stream: type | None = None
    connection: type | None = None

    def engine(self, cfg: Scenario) -> Engine:
        return engine_for(cfg).with_classes(self.stream, self.connection)


DEFAULT_COMPONENTS = Components()


@dataclass
class StreamRun:
    """Everything one simulated stream left behind (live engine objects, for engine tests)."""

    stream: int
    session: int
    cfg: Scenario
    env: simpy.Environment
    client: Client
    server: Server
    network: NetworkProcess
    weight: float = 1.0  # the session's likelihood ratio (`model.importance`); 1 without a tilt

    def record(self) -> StreamRecord:
        """The stream as a record (one row of the stream table, with its disconnects)."""
        c, h, sid, cfg = self.client, self.client.health, self.stream, self.cfg
        end = c.ended_at if not math.isnan(c.ended_at) else cfg.horizon
        delivered = np.concatenate(h.digests) if h.digests else np.empty(0, dtype=np.uint64)
        seqs = np.concatenate(h.seqs) if h.seqs else np.empty(0, dtype=np.int64)
        # integrity_ok and the content kind's own checks
        integrity = verify(self.server.frames_of(sid), seqs, delivered)
        completed = c.outcome == Outcome.COMPLETED
        integrity["integrity_ok"] = bool(completed and integrity["integrity_ok"])
        disconnects = tuple(d.record(sid, c.outcome) for d in c.disconnects)
        duplicates = 0 if (seqs[1:] > seqs[:-1]).all() else int(len(seqs) - len(np.unique(seqs)))
        struck, silent = self.network.outages_while_streaming(sid, h.completed_at)
        return StreamRecord(
            content_kind=cfg.content.kind,
            stream=sid,
            session=self.session,
            start_time=c.started_at,
            outcome=str(c.outcome),
            error=str(c.error),
            end_time=end,
            completion_time=h.completed_at,
            frames_total=c.n,
            frames_delivered=h.have,
            bytes_delivered=self.server.bytes_of(sid, h.have),
            integrity=integrity,
            duplicates_received=h.duplicates_received,
            duplicates_delivered=duplicates,
            corrupt_detected=h.corrupt_detected,
            gaps=h.gaps,
            outages_while_streaming=struck,
            # silent outages the connection survived (no heartbeat timeout blamed on them)
            stalls_absorbed=silent - sum(d.cause == Cause.HALF_OPEN for d in disconnects),
            **self.server.buffer_report(sid, cfg.horizon),
            session_buffer_peak_bytes=self.server.total_trace.peak,
            log=tuple((t, str(state)) for t, state in c.log),
            disconnect_log=disconnects,
            weight=self.weight,
        )

    def timeline(self) -> StreamTimeline:
        """The record with what its figures draw: generation and arrival times, the weather."""
        record = self.record()
        return StreamTimeline(
            record,
            self.server.generation_times(self.stream),
            self.server.arrivals(self.stream, record.end_time),
            self.network.weather.record(),
        )


@dataclass
class SessionRun:
    session: int
    cfg: Scenario
    env: simpy.Environment
    server: Server
    members: list[StreamRun]

    def record(self) -> SessionRecord:
        streams = tuple(m.record() for m in self.members)
        return SessionRecord(self.session, streams, self.server.total_trace)


def run_session(
    cfg: Scenario,
    seed: int,
    session: int,
    *,
    env_class: type[simpy.Environment] = simpy.Environment,
    components: Components = DEFAULT_COMPONENTS,
) -> SessionRun:
    """Simulate one session (its `cfg.session.streams` concurrent streams) up to the horizon, in an
    `env_class` environment, built from `components`."""
    env = env_class()
    engine = components.engine(cfg)
    first = stream_rngs(seed, session)  # member 0's: the session-wide components are drawn there
    weather = draw_weather(cfg, seed, session, first["network"])
    server = components.server(env, cfg, engine.stream_class)
    size = cfg.session.streams
    starts = np.zeros(size)
    if size > 1 and cfg.session.start_spread > 0:
        spread = first["session"]
        starts = spread.uniform(0.0, cfg.session.start_spread, size)
    clients = []
    for member in range(size):
        rngs = first if member == 0 else stream_rngs(seed, session, member)
        sid = session * size + member
        corruption = rngs["corruption"] if cfg.link.corruption_rate > 0 else None
        physics = LinkPhysics(
            cfg,
            weather,
            rngs["link"],
            corruption,
            ack_rng=functools.partial(rngs.__getitem__, "acks"),
        )
        frames = make_frames(cfg.content, rngs["content"])
        gaps = cfg.server.gap.sample(rngs["server"], len(frames))
        client = components.client(
            env,
            sid,
            cfg,
            physics,
            weather,
            server,
            len(frames),
            rngs["client"],
            start=float(starts[member]),
            engine=engine,
        )
        server.register(sid, client, frames, gaps)
        clients.append(client)
    network = components.network(env, weather, clients)
    env.run(until=cfg.horizon)
    weight = session_weight(cfg, weather, clients)
    members = [StreamRun(c.sid, session, cfg, env, c, server, network, weight) for c in clients]
    return SessionRun(session, cfg, env, server, members)


def draw_weather(
    cfg: Scenario, seed: int, session: int, rng: np.random.Generator | None = None
) -> Weather:
    """The weather of one session: drawn under the scenario's tilt if it has one (`rng`: the
    session's network generator, if already made)."""
    rng = component_rng(seed, session, "network") if rng is None else rng
    return Weather(importance.tilted(cfg), rng)


def session_weather(cfg: Scenario, seed: int, session: int) -> NetworkRecord:
    """The weather of session `session` of `cfg` under root `seed`, as a record (not simulated)."""
    return draw_weather(cfg, seed, session).record()


def session_weight(cfg: Scenario, weather: Weather, clients: list[Client]) -> float:
    """The session's likelihood ratio up to its end (its last stream's end, else the horizon)."""
    if not cfg.tilt:
        return 1.0
    ends = [c.ended_at for c in clients]
    end = cfg.horizon if any(math.isnan(t) for t in ends) else max(ends)
    return importance.weight(cfg, weather.record(), end)


def run_stream(cfg: Scenario, seed: int, stream: int, **seams) -> StreamRun:
    """Simulate one single-stream session (stream i is session i); `seams` as for `run_session`."""
    if cfg.session.streams != 1:
        raise ValueError(
            f"session.streams={cfg.session.streams}: run_stream needs single-stream sessions"
        )
    return run_session(cfg, seed, stream, **seams).members[0]


def session_record(cfg: Scenario, seed: int, session: int) -> SessionRecord:
    """Session `session` of `cfg` under root `seed`, simulated again (the rows of its tables)."""
    return run_session(cfg, seed, session).record()


def stream_timeline(cfg: Scenario, seed: int, stream: int) -> StreamTimeline:
    """Stream `stream` of `cfg` under root `seed` with its timeline (its session run again)."""
    size = cfg.session.streams
    return run_session(cfg, seed, stream // size).members[stream % size].timeline()


def tables(records: list[StreamRecord], cfg: Scenario) -> Results:
    """The stream and disconnect tables of some stream records."""
    disconnects = [d for r in records for d in r.disconnect_log]
    return Results(
        STREAM_SCHEMA.table(records, cfg.content.kind), DISCONNECT_SCHEMA.table(disconnects)
    )


def simulate(cfg: Scenario, streams: int, seed: int = 0, first_stream: int = 0, **seams) -> Results:
    """Simulate sessions first_stream .. first_stream+streams-1 of `cfg` under root `seed`.

    With the default single-stream sessions, a session is a stream; with `session.streams` = S,
    each of the `streams` replications holds S concurrent streams (S rows each in the stream table).
    `seams` (`env_class`, `components`) are passed to `run_session`.
    """
    if streams < 1:
        raise ValueError(f"streams={streams}: must be a positive whole number")
    sessions = range(first_stream, first_stream + streams)
    records = each_session(
        cfg, seed, sessions, lambda run: [m.record() for m in run.members], **seams
    )
    return tables([r for rs in records for r in rs], cfg)


def each_session(cfg: Scenario, seed: int, sessions: range, visit, **seams) -> list:
    """`visit(run)` of each session's `SessionRun`, simulated one after another (`seams` as for
    `run_session`); each run is freed once visited (`collections_paused`)."""
    out = []
    with collections_paused():
        for i in sessions:
            out.append(visit(run_session(cfg, seed, i, **seams)))
            gc.collect(0)  # the session's objects are garbage now: one young collection frees them
    return out


@contextlib.contextmanager
def collections_paused(young: int = 500_000):
    """A finished session leaves its objects in reference cycles (a client and its process, the
    server and its streams), so only the cyclic garbage collector frees them. Left to itself it
    scans the young objects every 700 allocations, live sessions included, and again as they age:
    about a tenth of a run. Paused, and run once per finished session (`each_session`), it scans
    each object about once. Paused means a scan only after `young` net allocations, a bound on the
    garbage a huge session can pile up. The caller's setting is restored after."""
    threshold = gc.get_threshold()
    gc.set_threshold(max(young, threshold[0]), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
