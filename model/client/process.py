"""The client: a SimPy process that connects, reads, acks, watches the heartbeat, reconnects and
resumes.

The client acts at protocol moments only: ack ticks, heartbeat checks, break notifications and
connection attempts. At each it takes in every frame that has arrived since the last one (frame
arrival times are known exactly from the link's arrays), so per-frame times stay exact while the
event count stays small. Once the server has put the whole response on the connection, a tick
before the last frame can arrive does nothing but ack: the client sleeps through those ticks and
sends their acks, each with the frames held at its time, when it next wakes (`acking`). In
the per-frame reference engine (`engine=per_frame`) every frame's arrival is an event of its own
too (`receive`), and the client wakes at every tick.

Its connection state machine (connecting, streaming, disconnected, backing_off, resuming, completed,
failed) is logged with the time of every transition. Stream health (frames, duplicates, gaps,
integrity) is tracked apart from connection health. The concerns live in their own classes:
reading (`reading.Reader`), connecting (`connecting.Connector`), the heartbeat
(`heartbeat.Heartbeat`), acking (`acking.AckTicks`); this class runs the process that ties them
together.

Assumptions (README "Model assumptions"):
- Detection: a close is known at once; a reset when the client next sends (an ack or a ping: a
  receive-only client meets the reset only then) plus one mean RTT; a silent failure only when a
  ping's pong is `ping_timeout` late (pongs queue behind data, so a long TCP stall also trips it),
  and then only once the server has closed the connection or `close_timeout` has passed
  (`heartbeat.Heartbeat.closed_at`).
- Acks are cumulative, every `ack_interval`, and once more on completion.
- Every frame's checksum is verified on arrival (the link reports a corrupted frame's arrival time,
  so detection is exact): a corrupted frame is never delivered, and neither is anything after it on
  that connection. It is repaired like a break: the client abandons the connection, reconnects and
  resumes from the frame (or restarts), so a frame corrupted again on replay is caught again.
"""

from __future__ import annotations

import math

import numpy as np
import simpy

from model import clock
from model.client.acking import AckTicks
from model.client.connecting import Connector
from model.client.heartbeat import Heartbeat
from model.client.progress import Disconnect, StateLog
from model.client.reading import Reader
from model.config import Scenario, Strategy
from model.connection import Connection
from model.link import LinkPhysics
from model.network import Weather
from model.protocol import (
    COMPLETED,
    CONTINUE,
    Break,
    Broke,
    Completed,
    Continue,
    Corrupted,
    Failed,
    RequestKind,
)
from model.records import RECOVERED, ErrorKind, Outcome, State


class Client:
    """One stream's client. `engine` (an `engines.Engine`) makes its connections."""

    def __init__(
        self,
        env: simpy.Environment,
        sid: int,
        cfg: Scenario,
        physics: LinkPhysics,
        weather: Weather,
        server,
        total_frames: int,
        rng: np.random.Generator,
        start: float = 0.0,
        *,
        engine,
    ):
        self.env, self.sid, self.cfg = env, sid, cfg
        self.physics, self.weather, self.server, self.rng = physics, weather, server, rng
        self.n = total_frames
        self.started_at = start
        self.states = StateLog(env, start)
        self.log = self.states.entries
        self.disconnects: list[Disconnect] = []
        self.reader = Reader(env, total_frames, self.states, self.disconnects)
        self.health = self.reader.health
        self.heartbeat = Heartbeat(cfg, physics, weather)
        self.acks = AckTicks(cfg, server, sid, total_frames)
        opener = lambda: engine.open_connection(self, env.now)
        self.connector = Connector(env, cfg, rng, physics, weather, self.states, opener)
        self.conn: Connection | None = None
        self.outcome: Outcome = Outcome.CENSORED
        self.error: ErrorKind | str = ""
        self.ended_at = math.nan
        self.streaming = False
        self.proc = env.process(self.run())

    # ---- the end
    def finish(
        self, outcome: Outcome, error: ErrorKind | str = "", at: float | None = None
    ) -> None:
        self.outcome, self.error = outcome, error
        self.ended_at = self.env.now if at is None else at
        done = outcome == Outcome.COMPLETED
        self.states.set(State.COMPLETED if done else State.FAILED, self.ended_at)
        for rec in self.disconnects:
            if not rec.outcome:
                recovered = not math.isnan(rec.recovered_at)
                rec.outcome = RECOVERED if recovered else (error or outcome)
        self.conn = None

    # ---- notifications from the network and the server
    def notify(self, at: float, conn: Connection, cause: Broke | Failed | Corrupted) -> None:
        """Interrupt the client at `at` with `cause`, if it is still reading `conn` then."""
        clock.at(self.env, at, self.interrupt, conn, cause)

    def interrupt(self, conn: Connection, cause: Broke | Failed | Corrupted) -> None:
        """Interrupt the reading of `conn` now (once: a second cause at the same moment is
        dropped)."""
        if self.conn is conn and self.streaming and self.proc.is_alive:
            self.streaming = False
            self.proc.interrupt(cause)

    def receive(self, conn: Connection) -> None:
        """Per-frame engine: a frame of `conn` arrives now; take it in at once (a sequence gap or a
        failed checksum interrupts the reading here, not at the next tick)."""
        if self.conn is conn and self.streaming:
            outcome = self.reader.take_in(conn, self.env.now)
            if outcome is not CONTINUE:
                self.interrupt(conn, outcome)

    def on_resume_accepted(self, replayed: int, missing: int) -> None:
        rec = self.disconnects[-1]
        rec.bytes_replayed, rec.bytes_missing = replayed, missing

    # ---- the process
    def run(self):
        if self.started_at > 0:
            yield clock.until(self.env, self.started_at)
        connected = yield from self.connector.connect(None)
        if isinstance(connected, Failed):
            return self.finish(Outcome.FAILED, connected.error)
        self.use(connected.conn)
        self.states.set(State.STREAMING)
        self.request(RequestKind.NEW)
        while True:
            ended = yield from self.stream()
            if isinstance(ended, Completed):
                return self.finish(Outcome.COMPLETED, at=self.health.completed_at)
            if isinstance(ended, Failed):
                return self.finish(Outcome.FAILED, ended.error)
            rec = self.begin_disconnect(ended.brk)
            connected = yield from self.connector.connect(rec)
            if isinstance(connected, Failed):
                return self.finish(Outcome.FAILED, connected.error)
            self.use(connected.conn)
            self.states.set(State.RESUMING)
            resume = self.cfg.client.strategy == Strategy.RESUME
            self.request(RequestKind.RESUME if resume else RequestKind.RESTART)

    def use(self, conn: Connection) -> None:
        self.conn, self.reader.read = conn, 0

    def request(self, kind: RequestKind) -> None:
        position = self.health.have
        if kind == RequestKind.RESTART:
            self.reader.restart()
        if self.disconnects:
            rec = self.disconnects[-1]
            if math.isnan(rec.recovered_at) and self.health.have >= rec.generated_at_break:
                rec.recovered_at = self.env.now  # nothing was missing: back once reconnected
        handled = self.conn.upstream(self.env.now) + self.cfg.server.processing
        clock.at(self.env, handled, self.server.on_request, self.sid, self.conn, kind, position)

    def stream(self):
        """Read the current connection until Completed, Broke or Failed."""
        c, conn, beat, acks = self.cfg.client, self.conn, self.heartbeat, self.acks
        acks.start(self.env.now)
        ping_sent, tolerance = self.env.now + c.ping_interval, c.ping_timeout
        next_check = ping_sent + tolerance
        self.next_ping = ping_sent
        self.streaming = True
        try:
            while True:
                wake = min(acks.look(conn, self.env.now), next_check)
                try:
                    yield clock.until(self.env, wake)
                    upto = self.env.now
                except simpy.Interrupt as interrupt:
                    wake = self.env.now
                    if not isinstance(interrupt.cause, Corrupted):
                        outcome = self.take_in(conn, self.env.now, wake)
                        self.abandon(conn)
                        if outcome is not CONTINUE:
                            return outcome
                        return COMPLETED if self.reader.done else interrupt.cause
                    # take in up to the corrupted frame's exact arrival (`now` can fall a rounding
                    # error short of it); if a cut came first, nothing is found and reading goes on
                    upto = max(self.env.now, interrupt.cause.at)
                    self.streaming = True
                outcome = self.take_in(conn, upto, wake)
                if outcome is not CONTINUE:
                    self.abandon(conn)
                    return outcome
                if self.reader.done:
                    acks.ack(conn, self.health.have, self.env.now)
                    if not conn.alive:  # the final ack went into a dead connection
                        self.abandon(conn)
                    return COMPLETED
                acks.tick(conn, self.health.have, self.env.now)
                if self.env.now >= next_check:
                    pong = beat.pong_arrival(conn, ping_sent)
                    if pong > min(next_check, conn.cut):
                        brk = beat.timeout_break(conn, self.env.now, ping_sent)
                        self.streaming = False  # failing: deaf until the connection closes
                        yield clock.until(self.env, beat.closed_at(conn, self.env.now, ping_sent))
                        self.abandon(conn)
                        return Broke(brk)
                    tolerance = beat.adapt_tolerance(tolerance, pong - ping_sent)
                    ping_sent += c.ping_interval
                    next_check = ping_sent + tolerance
                self.next_ping = ping_sent
        finally:
            self.streaming = False

    def take_in(self, conn: Connection, upto: float, wake: float) -> Continue | Failed | Broke:
        """Take in what arrived on `conn` by `upto`, then ack the ticks slept through before
        `wake` (the time this look was for)."""
        have = self.health.have
        outcome = self.reader.take_in(conn, upto)
        self.acks.slept(conn, wake, have, self.reader.taken)
        return outcome

    def next_send(self, t: float) -> float:
        """When the client next sends on its connection at or after `t` (an ack or a ping)."""
        interval, ping = self.cfg.client.ping_interval, self.next_ping
        if math.isfinite(ping):  # ping_interval = inf: no pings
            ping += max(0, math.ceil((t - ping) / interval)) * interval
        return min(self.acks.at_or_after(t), ping)

    def abandon(self, conn: Connection) -> None:
        """Stop reading `conn`; the server learns of the break now (it keeps the buffer for the
        retention time)."""
        conn.cut = min(conn.cut, self.env.now)
        self.server.on_break(self.sid, conn)

    def begin_disconnect(self, brk: Break) -> Disconnect:
        rec = Disconnect(
            index=len(self.disconnects),
            cause=brk.cause,
            detected_by=brk.detected_by,
            time=brk.time,
            detected_at=self.env.now,
            generated_at_break=self.server.generated_by(self.sid, brk.time),
            outage_left=self.weather.up_again(brk.time) - brk.time,
        )
        self.disconnects.append(rec)
        self.states.set(State.DISCONNECTED)
        return rec
