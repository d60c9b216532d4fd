"""The server: generates each stream's frames, keeps its replay buffer, answers resume requests.

The server reacts to messages as they arrive (a request, an ack, a break, a retention expiry): each
arrival is one SimPy event. Between events, generation is deterministic, so it is scheduled in
bulk: frame k is generated `gap_k` after frame k-1, or, when the buffer is full in `block` mode, at
the moment an ack makes room. The per-frame reference engine (`FrameByFrameStream`) generates and
sends each frame at its own event instead.

Assumptions (README "Model assumptions"):
- Generation starts when the request arrives and does not depend on the client, except that in
  `block` mode it pauses while the buffer is full (an empty buffer always takes one frame).
- The buffer holds generated frames the client has not acked (cumulative acks trim it; a resume
  request acks everything before its position). In `evict` mode the oldest frames are dropped when
  full; a resume from an evicted position is refused.
- The server learns of a break when the client does (the client's close or the reset tells it); it
  then keeps the buffer for `retention` seconds, and frees it unless the stream was resumed.
- `restart` discards the buffer and generates the same response again from its start (a
  deterministic response, e.g. a cached or temperature-0 completion).

Acks are most of a stream's messages, and most change nothing but the buffer's bookkeeping: once
every frame of the stream on that connection is scheduled, an ack can neither start generation nor
send anything. Such an ack is not an event of its own: it is queued with its arrival time and
applied, in order and as of that time, before the server next acts on the stream or reports it
(`_settle_acks`). An ack that may let the server generate is handled at its arrival, an event.
"""

from __future__ import annotations

import bisect
import math
import operator

import numpy as np

from model.clock import at
from model.config import ReplayFrom, Scenario, WhenFull
from model.content import Frames
from model.protocol import Failed, RequestKind
from model.records import Arrivals, BufferTrace, ErrorKind


class StreamOnServer:
    """One stream's generation schedule and replay buffer (`env` is for subclasses that schedule
    events of their own)."""

    def __init__(self, cfg: Scenario, frames: Frames, gaps: np.ndarray, start: float, env=None):
        self.cfg, self.frames, self.gaps = cfg, frames, gaps
        self.cum = np.concatenate([[0], frames.size.cumsum()])
        self.n = len(frames)
        self.gen_times = np.full(self.n, np.inf)
        self.scheduled_at = np.full(self.n, np.inf)  # when each generation time was fixed (<= it)
        self.generated = 0  # frames scheduled so far (their times may lie in the future)
        self.created = start
        self.acked = 0
        self.ack_history: tuple[list, list] = (
            [],
            [],
        )  # (time, acked) of every change, for `buffer_bytes_at`
        self.freed_at = math.nan
        self.conn = None
        self.served: set = (
            set()
        )  # connections this generation was sent on (acks from others are stale)
        self.sent_high = 0  # frames ever sent down a connection that has since broken
        self.breaks = 0
        self.release_at = math.nan  # when the retention timer of the last break frees the buffer
        self.generate(start, first=True)

    @property
    def freed(self) -> bool:
        return not math.isnan(self.freed_at)

    def room_limit(self) -> int:
        """Frames that may exist now: all of them, or in `block` mode as many as fit the buffer
        beside the unacked ones (an empty buffer always takes one frame)."""
        if self.cfg.server.when_full != WhenFull.BLOCK:
            return self.n
        room = self.cum[self.acked] + self.cfg.server.buffer_bytes
        return min(max(int(self.cum.searchsorted(room, "right")) - 1, self.acked + 1), self.n)

    def generate(self, now: float, first: bool = False) -> np.ndarray:
        """Schedule every frame that fits now; return the indices newly scheduled."""
        k, limit = self.generated, self.room_limit()
        if limit <= k:
            return np.arange(0)
        previous = now if first else self.gen_times[k - 1]
        # a frame that waited for room is generated when room appears
        first_time = max(previous + self.gaps[k], now)
        self.gen_times[k:limit] = first_time + np.concatenate(
            [[0.0], self.gaps[k + 1 : limit].cumsum()]
        )
        self.scheduled_at[k:limit] = now
        self.generated = limit
        return np.arange(k, limit)

    def generated_by(self, t: float) -> int:
        return min(
            int(self.gen_times.searchsorted(t, "right")), self.generated
        )  # unscheduled frames sit at inf

    def floor(self, t: float) -> int:
        """First frame still held at time t (acked ones trimmed, evicted ones dropped)."""
        return int(self._floor(self.generated_by(t), self.acked))

    def _floor(self, generated, acked):
        """First frame held with `generated` frames made and `acked` acknowledged (numbers or
        arrays): in `evict` mode the oldest are dropped until the rest fit (an over-sized frame is
        kept, alone)."""
        if self.cfg.server.when_full != WhenFull.EVICT:
            return acked
        fits = self.cum.searchsorted(self.cum[generated] - self.cfg.server.buffer_bytes, "left")
        return np.maximum(acked, np.minimum(fits, generated - 1))

    def released_by(self) -> float:
        """When the buffer is (or will be) freed: inf while a live connection still holds it."""
        if self.freed:
            return self.freed_at
        return self.release_at if self.conn is None else math.inf

    def buffer_bytes(self, t: float) -> int:
        if self.freed:
            return 0
        return int(self.cum[self.generated_by(t)] - self.cum[self.floor(t)])

    def ack(self, count: int, now: float) -> None:
        self.acked = count
        self.ack_history[0].append(now)
        self.ack_history[1].append(count)

    def buffer_bytes_at(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`buffer_bytes` at many past times at once, just before and just after the events at each
        instant. Exact after the fact: a frame's generation time, once scheduled, never moves, so
        frame k exists at t if it was generated by t (and, just before the events at t, if it was
        not scheduled by them)."""
        gen = np.minimum(self.gen_times.searchsorted(times, "right"), self.generated)
        gen_before = np.minimum(gen, self.scheduled_at.searchsorted(times, "left"))
        changes = np.array(self.ack_history[0])
        acked = np.array([0, *self.ack_history[1]], dtype=np.int64)
        end = self.freed_at if self.freed else np.inf
        return (
            self._held(
                gen_before,
                acked[changes.searchsorted(times, "left")],
                (times > self.created) & (times <= end),
            ),
            self._held(
                gen,
                acked[changes.searchsorted(times, "right")],
                (times >= self.created) & (times < end),
            ),
        )

    def lifetime_rows(self, times: np.ndarray) -> tuple[int, int]:
        """The rows of `times` (sorted) from its creation to its freeing (inclusive): outside
        them `buffer_bytes_at` is 0."""
        end = self.freed_at if self.freed else np.inf
        return int(times.searchsorted(self.created, "left")), int(times.searchsorted(end, "right"))

    def _held(self, gen: np.ndarray, acked: np.ndarray, exists: np.ndarray) -> np.ndarray:
        return np.where(exists, self.cum[gen] - self.cum[self._floor(gen, acked)], 0)

    def send_from(self, conn, start: int, now: float, stop: int | None = None) -> None:
        """Send frames [start, stop) down `conn`, each when generated (the backlog at once)."""
        stop = self.generated if stop is None else stop
        if conn is None or start >= stop:
            return
        idx = np.arange(start, stop)
        ready = np.maximum(self.gen_times[idx], now)
        conn.send(ready, idx, self.frames.size[idx], self.frames.digest[idx])

    def bytes_between(self, lo: int, hi: int) -> int:
        return int(self.cum[hi] - self.cum[lo]) if hi > lo else 0

    def arrivals(self, end: float) -> Arrivals:
        """Its frames that reached the client by `end`, on every connection they were sent on
        (replayed duplicates included), by arrival."""
        times, seqs, conns = [], [], []
        for i, conn in enumerate(sorted(self.served, key=lambda c: c.opened)):
            k = conn.delivered_until(end)  # arrivals are in order: the first k rows
            times.append(conn.arrive[:k])
            seqs.append(conn.seq[:k])
            conns.append(np.full(k, i))
        t, q, c = np.concatenate(times), np.concatenate(seqs), np.concatenate(conns)
        order = np.argsort(t, kind="stable")
        return Arrivals(t[order], q[order], c[order])


class FrameByFrameStream(StreamOnServer):
    """The per-frame reference engine's stream: each frame is generated by its own event and sent
    down the current connection at that moment (`generated` counts frames that exist now)."""

    def __init__(self, cfg: Scenario, frames: Frames, gaps: np.ndarray, start: float, env=None):
        self.env, self.next_due = env, False
        super().__init__(cfg, frames, gaps, start, env)

    def generate(self, now: float, first: bool = False) -> np.ndarray:
        """Schedule the next frame's generation if it fits; nothing is generated at once."""
        k = self.generated
        if not self.next_due and k < self.room_limit():
            previous = now if first else self.gen_times[k - 1]
            self.next_due = True
            at(self.env, max(previous + self.gaps[k], now), self._generate_next)
        return np.arange(0)

    def _generate_next(self) -> None:
        self.next_due = False
        if self.freed:
            return
        k, now = self.generated, self.env.now
        self.gen_times[k], self.scheduled_at[k], self.generated = now, now, k + 1
        self.send_from(self.conn, k, now)
        self.generate(now)


_arrival = operator.itemgetter(0)  # a queued ack's arrival: what the queue is sorted by


class QueuedAcks:
    """Acks that only trim a buffer, kept until the server next looks at their stream: per stream,
    (arrival, connection, count) by arrival, equal arrivals in the order sent. Acks on different
    connections may overtake each other, but they mostly come in order of arrival: a list kept
    sorted (appended to, rarely inserted in) then takes the due ones as a slice, cheaper than a
    heap's pop per ack."""

    def __init__(self):
        self.queues: dict[int, list] = {}
        self.pushed = 0  # acks queued so far

    def push_all(self, sid: int, conn, counts: list[int], arrivals: list[float]) -> None:
        """Queue acks of `counts` frames arriving at `arrivals` (inf: never, not queued)."""
        queue = self.queues.setdefault(sid, [])
        queued = len(queue)
        for count, arrival in zip(counts, arrivals):
            if not math.isfinite(arrival):
                continue
            if queue and arrival < queue[-1][0]:  # overtaking: after the acks arriving with it
                bisect.insort_right(queue, (arrival, conn, count), key=_arrival)
            else:
                queue.append((arrival, conn, count))
        self.pushed += len(queue) - queued

    def due(self, sid: int, now: float) -> list:
        """Take (arrival, connection, count) of stream `sid`'s acks arrived by `now`, in order."""
        queue = self.queues.get(sid)
        if not queue or queue[0][0] > now:
            return []
        k = len(queue) if queue[-1][0] <= now else bisect.bisect_right(queue, now, key=_arrival)
        due = queue[:k]
        del queue[:k]
        return due


class ServerRecords:
    """What a `Server` hands over for the records: its streams' content, generation and arrivals,
    and their replay buffers traced after the fact (a part of `Server`, reading its streams)."""

    def trace(self, sid: int | None = None) -> BufferTrace:
        """Stream `sid`'s replay buffer (None: all streams', the server's memory) just before and
        after each of its events, and at the horizon; summed after the fact from the streams'
        schedules (`StreamOnServer.buffer_bytes_at`): a server event costs O(1), not O(streams)."""
        sids = list(self.event_times) if sid is None else [sid]
        if sid is not None:
            self._settle_acks(sid)
        elif self._all_settled != (self.env.now, self.queued_acks.pushed):
            for i in sids:  # every record asks for the total: settle all once, not each time
                self._settle_acks(i)
            self._all_settled = (self.env.now, self.queued_acks.pushed)
        # one stream's trace is its server's too; stale once more events happen
        key = (sid, self.events_noted)
        if key not in self._traces:
            events = [self.event_times[i] for i in sids]  # and the horizon: generation goes on
            times = np.array(sorted({self.cfg.horizon}.union(*events))) if events else []
            held = [s for i in sids for s in self.incarnations[i]]
            # (just before, just after) each event time
            pairs = np.zeros((len(times), 2), dtype=np.int64)
            for s in held:  # each over its lifetime only: a buffer holds nothing outside it
                lo, hi = s.lifetime_rows(times)
                before, after = s.buffer_bytes_at(times[lo:hi])
                pairs[lo:hi, 0] += before
                pairs[lo:hi, 1] += after
            self._traces[key] = BufferTrace(np.repeat(times, 2).tolist(), pairs.ravel().tolist())
        return self._traces[key]

    @property
    def total_trace(self) -> BufferTrace:
        """All streams' buffers together: the server's memory."""
        sids = list(self.event_times)
        return self.trace(None if len(sids) > 1 else sids[0])

    def frames_of(self, sid: int) -> Frames:
        return self.content[sid][0]

    def generated_by(self, sid: int, t: float) -> int:
        """Frames of stream `sid`'s current generation generated by time t (0 before it exists)."""
        s = self.streams.get(sid)
        return s.generated_by(t) if s is not None else 0

    def bytes_of(self, sid: int, frames: int) -> int:
        """Bytes of the first `frames` frames of stream `sid` (0 before it exists)."""
        s = self.streams.get(sid)
        return int(s.cum[frames]) if s is not None else 0

    def buffer_report(self, sid: int, horizon: float) -> dict:
        """Stream `sid`'s replay buffer: its peak, what it holds at the horizon, when it was freed
        and when it is (or will be) released."""
        self._settle_acks(sid)
        s = self.streams.get(sid)
        return {
            "buffer_peak_bytes": self.trace(sid).peak,
            "buffer_bytes_at_horizon": s.buffer_bytes(horizon) if s is not None else 0,
            "buffer_freed_at": s.freed_at if s is not None else math.nan,
            "buffer_released_by": s.released_by() if s is not None else 0.0,
        }

    def generation_times(self, sid: int) -> np.ndarray:
        """When each frame of stream `sid`'s current generation was generated (those made so
        far)."""
        s = self.streams.get(sid)
        return s.gen_times[np.isfinite(s.gen_times)] if s is not None else np.empty(0)

    def arrivals(self, sid: int, end: float) -> Arrivals:
        """Frames of stream `sid`'s current generation that reached the client by `end`, on every
        connection they were sent on (replayed duplicates included), by arrival."""
        s = self.streams.get(sid)
        if s is None:
            return Arrivals(np.empty(0), np.empty(0, dtype=int), np.empty(0, dtype=int))
        return s.arrivals(end)


class Server(ServerRecords):
    """All streams on one server; reacts to client messages at their arrival times. Its streams are
    made by `stream_class` (the engine's: `engines.Engine.stream_class`)."""

    def __init__(self, env, cfg: Scenario, stream_class: type[StreamOnServer] = StreamOnServer):
        self.env, self.cfg, self.stream_class = env, cfg, stream_class
        self.streams: dict[int, StreamOnServer] = {}
        self.clients: dict = {}
        self.content: dict[int, tuple[Frames, np.ndarray]] = {}
        # every stream ever made (a restart makes one)
        self.incarnations: dict[int, list[StreamOnServer]] = {}
        self.event_times: dict[int, list[float]] = {}  # when each stream's server events happened
        self.queued_acks = QueuedAcks()  # acks not yet applied (see the module)
        self._all_settled = None  # (time, acks queued) when every stream's acks were last settled
        self.events_noted = 0  # server events noted so far
        self._traces: dict = {}  # traces already summed, by stream (None: the total)

    def register(self, sid: int, client, frames: Frames, gaps: np.ndarray) -> None:
        """Make a stream known: its client, its content and its generation gaps."""
        self.clients[sid] = client
        self.content[sid] = (frames, gaps)
        self.incarnations[sid], self.event_times[sid] = [], []

    def _new_stream(self, sid: int, now: float) -> StreamOnServer:
        s = self.stream_class(self.cfg, *self.content[sid], now, self.env)
        self.incarnations[sid].append(s)
        return s

    def note_event(self, sid: int, at: float | None = None) -> None:
        """Note a server event of a held stream at `at` (default now; a queued ack's arrival); its
        buffer is traced after the run (`trace`). Called just before and just after each event's
        changes (a hook for instrumentation)."""
        if sid in self.streams:
            self.event_times[sid].append(self.env.now if at is None else at)
            self.events_noted += 1

    # ---- messages
    def on_request(self, sid: int, conn, kind: RequestKind, position: int) -> None:
        """A new stream, a resume from `position`, or a restart, arriving on `conn`."""
        now, client = self.env.now, self.clients[sid]
        self._settle_acks(sid)
        if now >= conn.cut:
            return  # the connection closed while the request was in flight: it is lost with it
        s = self.streams.get(sid)
        if kind == RequestKind.RESUME and position == 0 and (s is None or s.freed):
            kind = RequestKind.NEW  # nothing received, nothing held (the first request was lost)
        if kind == RequestKind.RESUME:
            if s is None or s.freed or s.floor(now) > position:
                refused = Failed(ErrorKind.RESUME_WINDOW_EXCEEDED)
                client.notify(conn.downstream_control(now), conn, refused)
                return
            self.note_event(sid)
            if self.cfg.server.replay_from == ReplayFrom.CLIENT:
                start = position
                s.ack(
                    max(s.acked, position), now
                )  # the resume position acknowledges what precedes it
            else:
                start = s.floor(
                    now
                )  # SignalR style: replay all unacked, the client drops duplicates
            s.generate(now)
            client.on_resume_accepted(
                replayed=s.bytes_between(start, s.sent_high),
                missing=s.bytes_between(position, s.sent_high),
            )
        else:
            self.note_event(sid)  # a restart drops the old buffer
            sent_before = s.sent_high if s is not None else 0
            if s is not None and not s.freed:
                s.freed_at = now
            s = self.streams[sid] = self._new_stream(sid, now)
            start = 0
            if kind == RequestKind.RESTART:
                client.on_resume_accepted(
                    replayed=s.bytes_between(0, sent_before),
                    missing=s.bytes_between(position, sent_before),
                )
        s.conn = conn
        s.served.add(conn)
        s.send_from(conn, start, now)
        self.note_event(sid)

    def ack_sent(self, sid: int, conn, count: int, arrival: float) -> None:
        """A cumulative ack of `count` frames reaching the server on `conn` at `arrival` (inf:
        never): an event if it may let the server generate, queued otherwise (see the module)."""
        if not math.isfinite(arrival):
            return
        if self._only_trims(sid, conn):
            self.queued_acks.push_all(sid, conn, [count], [arrival])
        else:
            at(self.env, arrival, self.on_ack, sid, conn, count)

    def acks_sent(self, sid: int, conn, counts: list[int], arrivals: list[float]) -> None:
        """`ack_sent` of acks sent one after another, none of them an event yet."""
        if self._only_trims(sid, conn):
            self.queued_acks.push_all(sid, conn, counts, arrivals)
        else:
            for count, arrival in zip(counts, arrivals):
                self.ack_sent(sid, conn, count, arrival)

    def _only_trims(self, sid: int, conn) -> bool:
        """Whether an ack on `conn` can only trim stream `sid`'s buffer: every frame is scheduled
        and `conn` is the stream's, so it can neither start generation nor send anything."""
        s = self.streams.get(sid)
        return s is not None and s.conn is conn and s.generated >= s.n

    def _settle_acks(self, sid: int) -> None:
        """Apply the queued acks of stream `sid` that have arrived by now, in order of arrival."""
        for arrival, conn, count in self.queued_acks.due(sid, self.env.now):
            self._ack(sid, conn, count, arrival)

    def on_ack(self, sid: int, conn, count: int) -> None:
        self._settle_acks(sid)
        self._ack(sid, conn, count, self.env.now)

    def _ack(self, sid: int, conn, count: int, now: float) -> None:
        """The ack arriving at `now`: trim the buffer, free it once all acked, make what fits."""
        s = self.streams.get(sid)
        if s is None or s.freed or count <= s.acked or conn not in s.served or now >= conn.cut:
            return
        self.note_event(sid, now)
        s.ack(count, now)
        if count >= s.n:
            s.freed_at = now  # the whole response is acknowledged
        elif s.conn is conn and s.generated < s.n:
            new = s.generate(now)
            if len(new):
                s.send_from(conn, int(new[0]), now)
        self.note_event(sid, now)

    def on_break(self, sid: int, conn) -> None:
        """The client's connection broke: stop sending; keep the buffer for the retention time."""
        self._settle_acks(sid)
        s = self.streams.get(sid)
        if s is None or s.conn is not conn:
            return
        s.sent_high = max(s.sent_high, int(conn.seq[: conn.sent_by(conn.cut)].max(initial=-1)) + 1)
        s.conn = None
        s.breaks += 1
        s.release_at = self.env.now + self.cfg.server.retention
        at(self.env, s.release_at, self._expire, sid, s, s.breaks)

    def _expire(self, sid: int, s: StreamOnServer, breaks: int) -> None:
        """Free the buffer if the stream has not come back since this break."""
        self._settle_acks(sid)
        if s.conn is None and s.breaks == breaks and not s.freed and self.streams.get(sid) is s:
            self.note_event(sid)
            s.freed_at = self.env.now
            self.note_event(sid)
