"""The client: a SimPy process that connects, reads, acks, watches the heartbeat, reconnects, resumes.

The client acts at protocol moments only: ack ticks, heartbeat checks, break notifications and
connection attempts. At each it takes in every frame that has arrived since the last one (frame
arrival times are known exactly from the link's arrays), so per-frame times stay exact while the
event count stays small. In the per-frame reference engine (`engine=per_frame`) every frame's
arrival is an event of its own too (`receive`), and the protocol moments are the same.

Its connection state machine (connecting, streaming, disconnected, backing_off, resuming, completed,
failed) is logged with the time of every transition. Stream health (frames, duplicates, gaps,
integrity) is tracked apart from connection health.

Assumptions (README "Model assumptions"):
- A connection attempt sends SYNs at 0, R, 3R, ... (R = `link.syn_rto`, doubling) within
  `connect_timeout`; it succeeds if a SYN leaves while the network is reachable and the network stays
  up for the `handshake_rtts` round trips that follow; otherwise it fails after `connect_timeout`.
- Detection: a close is known at once; a reset after one mean RTT; a silent failure only when a ping's
  pong is `ping_timeout` late (pongs queue behind data, so a long TCP stall also trips it).
- The reconnect auth check fails with `auth_failure_prob` (not retryable: the stream fails).
- Acks are cumulative, every `ack_interval`, and once more on completion.
- Every frame's checksum is verified on arrival (the link reports a corrupted frame's arrival time,
  so detection is exact): a corrupted frame is never delivered, and neither is anything after it on
  that connection. It is repaired like a break: the client abandons the connection, reconnects and
  resumes from the frame (or restarts), so a frame corrupted again on replay is caught again.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import simpy

from model import clock
from model.backoff import BackoffSchedule
from model.config import Scenario
from model.link import Connection, FrameByFrameConnection, LinkPhysics
from model.network import Weather

STATES = ("connecting", "streaming", "disconnected", "backing_off", "resuming", "completed", "failed")
ERRORS = ("network_timeout", "auth_failure", "resume_window_exceeded", "protocol_error")


@dataclass
class Break:
    """Why a connection ended, as the client learned it."""

    cause: str        # close | reset | half_open | loss (a stall with no outage behind it) | corruption
    time: float       # when the network event happened (the unanswered ping, for `loss`)
    detected_by: str  # close_frame | reset | heartbeat | checksum


@dataclass
class Corrupted:
    """Interrupt cause: a frame whose checksum fails arrives at `at`."""

    at: float


@dataclass
class DisconnectRecord:
    index: int
    cause: str
    detected_by: str
    time: float
    detected_at: float
    generated_at_break: int  # frames the server had generated when the break happened
    connected_at: float = math.nan
    resumed_at: float = math.nan
    recovered_at: float = math.nan
    attempts: int = 0
    backoff_wait: float = 0.0
    bytes_replayed: int = 0
    bytes_missing: int = 0
    outcome: str = ""


@dataclass
class StreamHealth:
    have: int = 0  # contiguous frames in the application buffer
    digests: list = field(default_factory=list)  # arrays of delivered digests, in order
    seqs: list = field(default_factory=list)  # arrays of delivered frame numbers, in order
    duplicates_received: int = 0
    gaps: int = 0
    corrupt_detected: int = 0  # frames whose checksum failed (never delivered; each one a break)
    completed_at: float = math.nan


class Client:
    def __init__(self, env: simpy.Environment, sid: int, cfg: Scenario, physics: LinkPhysics,
                 weather: Weather, server, total_frames: int, rng: np.random.Generator, start: float = 0.0):
        self.env, self.sid, self.cfg = env, sid, cfg
        self.physics, self.weather, self.server, self.rng = physics, weather, server, rng
        self.n = total_frames
        self.health = StreamHealth()
        self.conn: Connection | None = None
        self.read = 0  # frames of `conn` already taken in
        self.started_at = start
        self.log: list[tuple[float, str]] = [(start, "connecting")]
        self.disconnects: list[DisconnectRecord] = []
        self.outcome, self.error, self.ended_at = "censored", "", math.nan
        self.streaming = False
        self.proc = env.process(self.run())

    # ---- state machine
    def set_state(self, state: str, at: float | None = None) -> None:
        at = self.env.now if at is None else at
        if self.log[-1][1] != state:
            self.log.append((max(at, self.log[-1][0]), state))

    def finish(self, outcome: str, error: str = "", at: float | None = None) -> None:
        self.outcome, self.error = outcome, error
        self.ended_at = self.env.now if at is None else at
        self.set_state("completed" if outcome == "completed" else "failed", self.ended_at)
        for rec in self.disconnects:
            if not rec.outcome:
                rec.outcome = "recovered" if not math.isnan(rec.recovered_at) else (error or outcome)
        self.conn = None

    # ---- notifications from the network and the server
    def notify(self, at: float, conn: Connection, cause) -> None:
        """Interrupt the client at `at` with `cause`, if it is still reading `conn` then."""
        clock.at(self.env, at, self.interrupt, conn, cause)

    def interrupt(self, conn: Connection, cause) -> None:
        """Interrupt the reading of `conn` now (once: a second cause at the same moment is dropped)."""
        if self.conn is conn and self.streaming and self.proc.is_alive:
            self.streaming = False
            self.proc.interrupt(cause)

    def receive(self, conn: Connection) -> None:
        """Per-frame engine: a frame of `conn` arrives now; take it in at once (a sequence gap or a
        failed checksum interrupts the reading here, not at the next tick)."""
        if self.conn is conn and self.streaming:
            error = self.take_in(conn, self.env.now)
            if error:
                self.interrupt(conn, error)

    def on_resume_accepted(self, replayed: int, missing: int) -> None:
        rec = self.disconnects[-1]
        rec.bytes_replayed, rec.bytes_missing = replayed, missing

    # ---- the process
    def run(self):
        if self.started_at > 0:
            yield clock.until(self.env, self.started_at)
        error = yield from self.connect(None)
        if error:
            return self.finish("failed", error)
        self.set_state("streaming")
        self.request("new")
        while True:
            ended = yield from self.stream()
            if ended is None:
                return self.finish("completed", at=self.health.completed_at)
            if isinstance(ended, str):
                return self.finish("failed", ended)
            rec = self.begin_disconnect(ended)
            error = yield from self.connect(rec)
            if error:
                return self.finish("failed", error)
            self.set_state("resuming")
            self.request("resume" if self.cfg.client.strategy == "resume" else "restart")

    def request(self, kind: str) -> None:
        position = self.health.have
        if kind == "restart":
            self.health.have, self.health.digests, self.health.seqs = 0, [], []  # discard the partial response
        if self.disconnects:
            rec = self.disconnects[-1]
            if math.isnan(rec.recovered_at) and self.health.have >= rec.generated_at_break:
                rec.recovered_at = self.env.now  # nothing was missing: back once reconnected
        arrival = self.conn.upstream(self.env.now)
        clock.at(self.env, arrival, self.server.on_request, self.sid, self.conn, kind, position)

    def stream(self):
        """Read until completion (None), a break (Break) or an error (its kind)."""
        c, conn = self.cfg.client, self.conn
        next_ack = self.env.now + c.ack_interval
        ping_sent, tolerance = self.env.now + c.ping_interval, c.ping_timeout
        next_check = ping_sent + tolerance
        self.streaming = True
        try:
            while True:
                try:
                    yield clock.until(self.env, min(next_ack, next_check))
                    upto = self.env.now
                except simpy.Interrupt as interrupt:
                    if not isinstance(interrupt.cause, Corrupted):
                        error = self.take_in(conn, self.env.now)
                        self.abandon(conn)
                        return error or (None if self.done else interrupt.cause)
                    # take in up to the corrupted frame's exact arrival (`now` can fall a rounding
                    # error short of it); if a cut came first, nothing is found and reading goes on
                    upto = max(self.env.now, interrupt.cause.at)
                    self.streaming = True
                error = self.take_in(conn, upto)
                if error:
                    self.abandon(conn)
                    return error
                if self.done:
                    self.ack(conn)
                    if not conn.alive:  # the final ack went into a dead connection
                        self.abandon(conn)
                    return None
                if self.env.now >= next_ack:
                    self.ack(conn)
                    next_ack += c.ack_interval
                if self.env.now >= next_check:
                    pong = self.pong_arrival(conn, ping_sent)
                    if pong > min(next_check, conn.cut):
                        self.abandon(conn)
                        return self.heartbeat_break(self.env.now, ping_sent)
                    tolerance = self.adapt_tolerance(tolerance, pong - ping_sent)
                    ping_sent += c.ping_interval
                    next_check = ping_sent + tolerance
        finally:
            self.streaming = False

    def abandon(self, conn: Connection) -> None:
        """Stop reading `conn`; the server learns of the break now (it keeps the buffer for retention)."""
        conn.cut = min(conn.cut, self.env.now)
        self.server.on_break(self.sid, conn)

    @property
    def done(self) -> bool:
        return self.health.have >= self.n

    def ack(self, conn: Connection) -> None:
        arrival = conn.upstream(self.env.now)
        clock.at(self.env, arrival, self.server.on_ack, self.sid, conn, self.health.have)

    def pong_arrival(self, conn: Connection, ping_sent: float) -> float:
        """When the pong to a ping sent at `ping_sent` reaches the client (it queues behind data)."""
        ping_arrival = self.physics.transmit(ping_sent) if ping_sent < conn.cut else math.inf
        return conn.downstream_control(ping_arrival) if math.isfinite(ping_arrival) else math.inf

    def adapt_tolerance(self, tolerance: float, pong_delay: float) -> float:
        """Adaptive heartbeat: a slow pong (over half the tolerance) doubles the tolerance, up to
        `heartbeat_stretch_max` x `ping_timeout`; a prompt one (under a quarter) halves it back."""
        c = self.cfg.client
        if pong_delay > tolerance / 2:
            return min(2 * tolerance, c.ping_timeout * c.heartbeat_stretch_max)
        if pong_delay < tolerance / 4:
            return max(tolerance / 2, c.ping_timeout)
        return tolerance

    def heartbeat_break(self, now: float, sent: float) -> Break:
        """Name the cause of a heartbeat timeout: an outage overlapping the ping, or loss alone."""
        for ev in reversed(self.weather.events):  # the latest outage during this connection
            if self.conn.opened <= ev.time <= now and ev.time + ev.outage > sent - self.cfg.client.ping_interval:
                return Break(ev.kind, ev.time, "heartbeat")
        return Break("loss", sent, "heartbeat")

    def begin_disconnect(self, brk: Break) -> DisconnectRecord:
        s = self.server.streams.get(self.sid)
        rec = DisconnectRecord(
            index=len(self.disconnects), cause=brk.cause, detected_by=brk.detected_by, time=brk.time,
            detected_at=self.env.now,
            generated_at_break=s.generated_by(brk.time) if s is not None else 0)
        self.disconnects.append(rec)
        self.set_state("disconnected")
        return rec

    # ---- reading frames
    def take_in(self, conn: Connection, now: float) -> str | Break:
        """Move frames that arrived by `now` into the application buffer. Returns '', 'protocol_error'
        (a sequence gap) or a Break at a frame whose checksum failed."""
        k = conn.delivered_until(now)
        if k <= self.read:
            return ""
        h, lo = self.health, self.read
        self.read = k
        # checksums first: nothing from a corrupted frame on is taken (the connection is abandoned)
        bad = conn.corrupt[lo:k] if conn.any_corrupt else None
        ok = lo + int(np.argmax(bad)) if bad is not None and bad.any() else k
        fresh, gap = self.sort_out(conn, lo, ok)
        error: str | Break = ""
        if gap:
            h.gaps += 1
            error = "protocol_error"
        elif ok < k and h.have + len(conn.seq[fresh]) < self.n:  # once complete nothing more is read
            h.corrupt_detected += 1
            error = Break("corruption", min(float(conn.arrive[ok]), self.env.now), "checksum")  # never after detection
        new = conn.seq[fresh]
        if not len(new):
            return error
        times = conn.arrive[fresh]
        self.note_progress(float(times[0]), times)
        h.digests.append(conn.digest[fresh].copy())  # copies: a view would pin the connection's storage
        h.seqs.append(new.copy())
        h.have += len(new)
        if self.done:
            h.completed_at = float(times[-1])
        return error

    def sort_out(self, conn: Connection, lo: int, hi: int) -> tuple[slice | np.ndarray, bool]:
        """Which of frames [lo, hi) of `conn` are new (a slice or index array) and whether a sequence
        gap stops the reading. A frame is a duplicate if its seq is already held; new frames must
        continue the sequence, and nothing after a gap is taken."""
        h = self.health
        if lo >= hi:
            return slice(lo, lo), False
        first = int(conn.seq[lo])
        if conn.contiguous and first <= h.have:  # in order, duplicates only at the start: no search
            start = lo + min(h.have - first, hi - lo)
            h.duplicates_received += start - lo
            return slice(start, hi), False
        seq = conn.seq[lo:hi]
        held = np.maximum.accumulate(np.concatenate([[h.have - 1], seq[:-1]]))
        duplicate = seq <= held
        gap = ~duplicate & (seq != held + 1)
        stop = int(np.argmax(gap)) if gap.any() else len(seq)
        h.duplicates_received += int(duplicate[:stop].sum())
        return lo + np.flatnonzero(~duplicate[:stop]), stop < len(seq)

    def note_progress(self, first_new: float, times: np.ndarray) -> None:
        """Recovery bookkeeping for new frames arriving at `times` (the buffer holds `have` before them)."""
        h = self.health
        last = self.disconnects[-1] if self.disconnects else None
        if last is not None and math.isnan(last.resumed_at) and not math.isnan(last.connected_at):
            last.resumed_at = first_new
        for rec in self.disconnects:
            need = rec.generated_at_break - 1  # recovered once every frame that existed is held
            if math.isnan(rec.recovered_at) and h.have <= need < h.have + len(times):
                rec.recovered_at = float(times[need - h.have])
        if self.log[-1][1] == "resuming":
            self.set_state("streaming", first_new)

    # ---- connecting
    def connect(self, rec: DisconnectRecord | None):
        """Attempts with backoff until connected (returns '') or giving up (returns the error)."""
        c = self.cfg.client
        backoff = BackoffSchedule(c.backoff, self.rng)
        start = self.env.now
        while True:
            if backoff.attempt >= c.backoff.max_attempts:
                return "network_timeout"
            wait = backoff.next()
            if self.env.now + wait - start > c.backoff.deadline:
                return "network_timeout"
            if wait > 0:
                self.set_state("backing_off")
                yield self.env.timeout(wait)
            self.set_state("connecting")
            if rec is not None:
                rec.attempts += 1
                rec.backoff_wait += wait
            established = self.attempt(self.env.now)
            if established is None:
                yield self.env.timeout(c.connect_timeout)
                continue
            yield clock.until(self.env, established)
            if rec is not None and self.rng.random() < c.auth_failure_prob:
                return "auth_failure"
            self.conn, self.read = self.open_connection(), 0
            if rec is not None:
                rec.connected_at = self.env.now
            return ""

    def open_connection(self) -> Connection:
        """A new connection; the bulk engine learns of corrupted frames from the link in advance,
        the per-frame engine handles every frame at its arrival."""
        bandwidth = self.cfg.link.bandwidth
        if self.cfg.engine == "per_frame":
            return FrameByFrameConnection(self.physics, self.env.now, bandwidth,
                                          lambda conn, t: clock.at(self.env, t, self.receive, conn))
        conn = Connection(self.physics, self.env.now, bandwidth)
        conn.on_corrupt = lambda t: self.notify(t, conn, Corrupted(t))
        return conn

    def attempt(self, t: float) -> float | None:
        """Time the connection is established, or None if this attempt fails."""
        c = self.cfg.client
        syn, step = t, self.cfg.link.syn_rto
        while syn < t + c.connect_timeout:
            if not self.weather.unreachable_at(syn):
                done = syn
                for _ in range(2 * c.handshake_rtts):  # each leg can be lost and retransmitted
                    done = self.physics.transmit(done)
                if done <= t + c.connect_timeout and self.weather.up_throughout(syn, done):
                    return done
                return None
            syn, step = syn + step, step * 2
        return None
