"""The testbed's server side of one stream: generation, replay buffer, acks, resume, restart.

The protocol is the model's (`model/server.py`), written again on a real websockets server:
- Content and generation gaps are the model's stream i (`make_frames` with the stream's `content`
  generator, `server.gap` sampled with its `server` generator). Frame k is generated `gap_k` after
  frame k-1, the first `gap_0` after the first request arrives, whether or not a client is
  attached; in `block` mode a frame that does not fit the buffer waits for an ack to make room and
  is generated then (an empty buffer always takes one frame).
- The replay buffer holds generated, unacknowledged frames; cumulative acks trim it; a resume
  request acknowledges what precedes its position (`replay_from=client`) or the server replays
  every unacknowledged frame (`ack`); `evict` drops the oldest frames when full.
- The server learns of a break when its connection ends (close handshake, reset, end of file) or
  when a new connection of the stream sends a request (a connection black-holed without its end
  ever reaching the server is superseded). Its keepalive is off (`ping_interval=None`): the model's
  server has no heartbeat of its own, the client's heartbeat finds silent failures.
- After a break the buffer is kept `retention` seconds, then freed unless the stream came back.
  A resume from a position no longer held is refused (`resume_window_exceeded`); an expired token
  is refused (`auth_failure`). `restart` frees the buffer and generates the response again.
- Bytes replayed and missing are counted against the frames written to the connections that broke:
  written to the socket, since the server cannot know which of them arrived.
Times are event-loop (monotonic) times; `log` reports them from the stream's start `t0`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass

import numpy as np
from websockets.exceptions import ConnectionClosed

from model.config import Scenario
from model.content import make_frames
from model.seeds import stream_rngs
from model.testbed import wire


@dataclass
class Settings:
    """What the server process needs (pickled to it by the parent)."""

    cfg: Scenario
    seed: int
    table: str  # the parent's nftables table
    close_timeout: float
    close_grace: float
    parent: int  # the parent's pid


def now() -> float:
    return asyncio.get_running_loop().time()


class Incarnation:
    """One generation of the response (a restart makes a new one) and its replay buffer."""

    def __init__(self, stream: ServedStream, start: float):
        self.stream, self.created = stream, start
        self.gen_times: list[float] = []
        self.acked, self.acks = 0, []  # acks: (time, count) of every change
        self.freed_at = math.nan
        self.peak = 0
        self.sent_high = 0  # frames written to connections that have since broken
        self.served: set = (
            set()
        )  # outlets this incarnation was served on (acks from others are stale)
        self.room = asyncio.Event()
        self.blocked = False  # waiting for an ack to make room (block mode)
        self.task = asyncio.get_running_loop().create_task(self.generate())

    @property
    def generated(self) -> int:
        return len(self.gen_times)

    @property
    def freed(self) -> bool:
        return not math.isnan(self.freed_at)

    def room_limit(self) -> int:
        """Frames that may exist now (block mode: as many as fit beside the unacked ones)."""
        s = self.stream
        if s.cfg.server.when_full != "block":
            return s.n
        fit = int(s.cum.searchsorted(s.cum[self.acked] + s.cfg.server.buffer_bytes, "right")) - 1
        return min(max(fit, self.acked + 1), s.n)

    def floor(self) -> int:
        """First frame still held (acked ones trimmed; in evict mode the oldest dropped to fit)."""
        s, generated = self.stream, self.generated
        if s.cfg.server.when_full != "evict" or generated == 0:
            return self.acked
        fits = int(s.cum.searchsorted(s.cum[generated] - s.cfg.server.buffer_bytes, "left"))
        return max(self.acked, min(fits, generated - 1))

    def held_bytes(self) -> int:
        return (
            0
            if self.freed
            else int(self.stream.cum[self.generated] - self.stream.cum[self.floor()])
        )

    async def generate(self) -> None:
        s, loop, due = self.stream, asyncio.get_running_loop(), self.created
        for k in range(s.n):
            due += float(s.gaps[k])
            while k >= self.room_limit():  # block mode, buffer full: wait for an ack
                self.room.clear()
                self.blocked = True
                await self.room.wait()
                self.blocked = False
                due = max(due, loop.time())
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            self.gen_times.append(loop.time())
            self.peak = max(self.peak, self.held_bytes())
            if s.outlet is not None and s.current is self:
                s.outlet.push(k)

    def ack(self, count: int) -> None:
        self.acked = count
        self.acks.append((now(), count))
        self.room.set()

    def free(self) -> None:
        if not self.freed:
            self.freed_at = now()
            self.task.cancel()

    def log(self, t0: float) -> dict:
        return {
            "created": self.created - t0,
            "gen_times": [t - t0 for t in self.gen_times],
            "freed_at": self.freed_at - t0,
            "peak": self.peak,
            "held_at_end": self.held_bytes(),
            "acks": [(t - t0, c) for t, c in self.acks],
        }


class Outlet:
    """One connection of the stream: frames and messages go out in order through one sender task."""

    def __init__(self, ws, stream: ServedStream):
        self.ws, self.stream = ws, stream
        self.client_port = ws.remote_address[1]
        self.opened, self.closed, self.how = now(), math.nan, ""
        self.written = 0  # frames written so far: one past the highest sequence number
        self.queue: asyncio.Queue = asyncio.Queue()
        self.done = asyncio.Event()  # the handler has read everything and returned
        self.task = asyncio.get_running_loop().create_task(self.pump())

    def push(self, item: int | str) -> None:
        self.queue.put_nowait(item)

    async def pump(self) -> None:
        frames = self.stream.frames
        while True:
            item = await self.queue.get()
            message = item if isinstance(item, str) else wire.encode_frame(frames, item)
            try:
                await self.ws.send(message)
            except ConnectionClosed:
                return
            if not isinstance(item, str):
                self.written = max(self.written, item + 1)

    def log(self, t0: float) -> dict:
        return {
            "opened": self.opened - t0,
            "closed": self.closed - t0,
            "how": self.how,
            "client_port": self.client_port,
            "written": self.written,
        }


class ServedStream:
    """Everything the server holds for one stream, across its connections and incarnations."""

    def __init__(self, cfg: Scenario, seed: int, stream: int, t0: float):
        self.cfg, self.stream, self.t0 = cfg, stream, t0
        rngs = stream_rngs(seed, stream)
        self.frames = make_frames(cfg.content, rngs["content"])
        self.n = len(self.frames)
        self.gaps = cfg.server.gap.sample(rngs["server"], self.n)  # as the model draws them
        self.cum = np.concatenate([[0], np.cumsum(self.frames.size)])
        self.incarnations: list[Incarnation] = []
        self.current: Incarnation | None = None
        self.outlet: Outlet | None = None  # the attached connection
        self.outlets: list[Outlet] = []
        self.breaks, self.release_at = 0, math.nan
        self.requests: list[dict] = []
        self.timers: set[asyncio.Task] = set()

    def live(self) -> Outlet | None:
        return self.outlet

    def bytes_between(self, lo: int, hi: int) -> int:
        return int(self.cum[hi] - self.cum[lo]) if hi > lo else 0

    # ---- one connection
    async def handler(self, ws) -> None:
        outlet = Outlet(ws, self)
        self.outlets.append(outlet)
        try:
            async for text in ws:
                if isinstance(text, str):
                    self.on_message(outlet, wire.parse(text))
        except ConnectionClosed:
            pass
        finally:
            outlet.closed, outlet.how = now(), closing_cause(ws)
            outlet.task.cancel()
            self.on_break(outlet)
            outlet.done.set()

    def on_message(self, outlet: Outlet, msg: dict) -> None:
        if msg["type"] == "request":
            self.on_request(outlet, msg)
        elif msg["type"] == "ack":
            self.on_ack(outlet, int(msg["count"]))

    def on_request(self, outlet: Outlet, msg: dict) -> None:
        """A new stream, a resume from `position` or a restart, arriving on `outlet`. Runs without
        awaiting, so the backlog and the frames generated after it go out in order, once each."""
        if self.outlet is not None and self.outlet is not outlet:
            self.outlet.how = self.outlet.how or "superseded"
            self.on_break(self.outlet)
        kind, position = msg["kind"], int(msg["position"])
        entry = {
            "attempt": msg["attempt"],
            "kind": kind,
            "time": now() - self.t0,
            "position": position,
            "error": "",
            "replayed": 0,
            "missing": 0,
        }
        self.requests.append(entry)
        if msg["token"] != "valid":
            return self.refuse(outlet, entry, "auth_failure")
        inc = self.current
        if kind == "resume" and position == 0 and (inc is None or inc.freed):
            kind = "new"  # nothing received and nothing held (the first request was lost): start
        if kind == "resume":
            if inc is None or inc.freed or inc.floor() > position:
                return self.refuse(outlet, entry, "resume_window_exceeded")
            if self.cfg.server.replay_from == "client":
                start = position
                inc.ack(max(inc.acked, position))  # the position acknowledges what precedes it
            else:
                start = inc.floor()  # replay every unacked frame; the client drops duplicates
            entry["replayed"] = self.bytes_between(start, inc.sent_high)
            entry["missing"] = self.bytes_between(position, inc.sent_high)
        else:
            sent_before = inc.sent_high if inc is not None else 0
            if inc is not None:
                inc.free()
            inc = self.current = Incarnation(self, now())
            self.incarnations.append(inc)
            start = 0
            if kind == "restart":
                entry["replayed"] = self.bytes_between(0, sent_before)
                entry["missing"] = self.bytes_between(position, sent_before)
        self.outlet = outlet
        inc.served.add(outlet)
        for k in range(start, inc.generated):
            outlet.push(k)

    def refuse(self, outlet: Outlet, entry: dict, error: str) -> None:
        entry["error"] = error
        outlet.push(wire.error(error))

    def on_ack(self, outlet: Outlet, count: int) -> None:
        inc = self.current
        if inc is None or inc.freed or count <= inc.acked or outlet not in inc.served:
            return
        inc.ack(count)
        if count >= self.n:
            inc.free()  # the whole response is acknowledged

    def on_break(self, outlet: Outlet) -> None:
        """The attached connection ended: stop sending; keep the buffer for the retention time."""
        if self.outlet is not outlet:
            return
        if self.current is not None:
            self.current.sent_high = max(self.current.sent_high, outlet.written)
        self.outlet = None
        self.breaks += 1
        self.release_at = now() + self.cfg.server.retention
        timer = asyncio.get_running_loop().create_task(self.expire(self.breaks, self.current))
        self.timers.add(timer)
        timer.add_done_callback(self.timers.discard)

    async def expire(self, breaks: int, inc: Incarnation | None) -> None:
        await asyncio.sleep(self.cfg.server.retention)
        if (
            self.outlet is None
            and self.breaks == breaks
            and inc is not None
            and inc is self.current
        ):
            inc.free()

    # ---- the end
    async def settle(self, timeout: float) -> None:
        """Wait (a bounded time) for the last connection's handler to read what was sent to it."""
        if self.outlets:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.outlets[-1].done.wait(), timeout)

    async def drain(self, until: float) -> None:
        """With the client gone: wait until the buffer can grow no more (generation done or
        blocked, or the buffer freed), or until `until` (loop time), so its peak is the real one."""
        while (inc := self.current) is not None and not (
            inc.freed or inc.task.done() or inc.blocked
        ):
            if now() >= until:
                return
            await asyncio.sleep(min(0.05, until - now()))

    def stop(self) -> None:
        for inc in self.incarnations:
            inc.task.cancel()
        for task in [*self.timers, *(o.task for o in self.outlets)]:
            task.cancel()
        for outlet in self.outlets:
            if math.isnan(outlet.closed):
                outlet.ws.transport.abort()

    def log(self) -> dict:
        t0, latest = self.t0, self.current
        return {
            "incarnations": [i.log(t0) for i in self.incarnations],
            "requests": self.requests,
            "connections": [o.log(t0) for o in self.outlets],
            "release_at": self.release_at - t0,
            "attached_at_end": self.outlet is not None,
            "freed": latest is not None and latest.freed,
        }


def closing_cause(ws) -> str:
    """How a connection ended, as its side saw it: close handshake codes or the socket's error."""
    p = ws.protocol
    exc = getattr(ws, "connection_exc", None)
    if exc is not None:
        return type(exc).__name__
    rcvd = p.close_rcvd.code if p.close_rcvd is not None else None
    sent = p.close_sent.code if p.close_sent is not None else None
    return f"close rcvd={rcvd} sent={sent}"
