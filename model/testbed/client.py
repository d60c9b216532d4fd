"""The testbed's client of one stream: the model's client state machine on websockets.

What the library does is measured, not reimplemented: connections open with `open_timeout =
client.connect_timeout`; the heartbeat is websockets' keepalive (`ping_interval`, `ping_timeout`
from `cfg.client`); closing waits up to `close_timeout`. The connection class is websockets' own,
subclassed only to note when each keepalive ping leaves (to name a heartbeat timeout's cause).

The protocol mirrors `model/client.py`: a request (new, resume from the position, or restart), a
cumulative ack every `ack_interval` and on completion, every frame's checksum verified, duplicates
dropped, a sequence gap is a `protocol_error`; reconnects follow `BackoffSchedule` with the model's
client generator for stream i (so with the same attempt outcomes the waits are the model's), up to
`max_attempts` and `deadline` (then `network_timeout`); the auth draw of a reconnect is the model's
too, and an expired token is refused by the server (`auth_failure`).

How a break was detected is read from the closed connection: a close frame received first
(`close_frame`), a keepalive timeout (`heartbeat`), the socket reset (`reset`), or the connection
ending otherwise (`eof`). Its cause and time are named by an omniscient recorder from the weather,
as the model does (`Client.heartbeat_break`). Times are seconds from the stream's start `t0`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from model.backoff import BackoffSchedule
from model.client.progress import Disconnect as DisconnectRecord
from model.config import Scenario
from model.network import Weather
from model.protocol import Break
from model.seeds import stream_rngs
from model.testbed import wire


class RecordingConnection(ClientConnection):
    """websockets' client connection, noting the loop time at which every ping is sent."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ping_times: list[float] = []

    async def ping(self, data=None):
        self.ping_times.append(self.loop.time())
        return await super().ping(data)


class StreamClient:
    """One stream's client; `run()` ends by completion, a typed error or the horizon."""

    def __init__(
        self,
        cfg: Scenario,
        seed: int,
        stream: int,
        port: int,
        t0: float,
        weather: Weather,
        frames_total: int,
        close_timeout: float,
    ):
        self.cfg, self.stream, self.port, self.t0 = cfg, stream, port, t0
        self.weather, self.n, self.close_timeout = weather, frames_total, close_timeout
        self.rng = stream_rngs(seed, stream)["client"]
        self.log: list[tuple[float, str]] = [(0.0, "connecting")]
        self.seqs: list[int] = []
        self.digests: list[int] = []
        self.have = self.duplicates = self.gaps = self.corrupt = 0
        self.progress: list[tuple[float, int]] = []  # (time, frames held) after each new frame
        self.requests: list[
            tuple[float, int, bool]
        ] = []  # (time, frames held, token valid) of each
        self.disconnects: list[DisconnectRecord] = []
        self.streaming: list[list[float]] = []  # [from, to] while reading a connection
        self.gave_up = math.inf  # when the heartbeat gave up on the connection being read
        self.attempt_errors: dict[str, int] = {}
        self.outcome, self.error = "censored", ""
        self.ended_at = self.completed_at = math.nan
        self.ws: RecordingConnection | None = None
        self.opened = 0.0

    def now(self) -> float:
        return time.monotonic() - self.t0

    def set_state(self, state: str, at: float | None = None) -> None:
        at = self.now() if at is None else at
        if self.log[-1][1] != state:
            self.log.append((max(at, self.log[-1][0]), state))

    def finish(self, outcome: str, error: str = "", at: float | None = None) -> None:
        self.outcome, self.error = outcome, error
        self.ended_at = self.now() if at is None else at
        self.set_state("completed" if outcome == "completed" else "failed", self.ended_at)

    # ---- the process
    async def run(self) -> None:
        """Run to completion or error, censored at the horizon."""
        try:  # the default event loop's clock is time.monotonic(), the clock t0 is read from
            async with asyncio.timeout_at(self.t0 + self.cfg.horizon):
                await self.lifecycle()
        except TimeoutError:
            self.outcome, self.error = "censored", ""
        finally:
            if self.ws is not None:
                self.ws.transport.abort()
            if self.streaming and len(self.streaming[-1]) == 1:
                self.streaming[-1].append(self.now())

    async def lifecycle(self) -> None:
        delay = self.t0 - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        token = await self.connect(None)
        if token is None:
            return self.finish("failed", "network_timeout")
        self.set_state("streaming")
        await self.request("new", token)
        while True:
            ended = await self.read()
            if ended is None:
                return self.finish("completed", at=self.completed_at)
            if isinstance(ended, str):
                return self.finish("failed", ended)
            rec = self.begin_disconnect(ended)
            token = await self.connect(rec)
            if token is None:
                return self.finish("failed", "network_timeout")
            self.set_state("resuming")
            await self.request(
                "resume" if self.cfg.client.strategy == "resume" else "restart", token
            )

    async def request(self, kind: str, token: str) -> None:
        position = self.have
        if kind == "restart":
            self.have, self.seqs, self.digests = 0, [], []  # discard the partial response
        self.requests.append((self.now(), self.have, token == "valid"))
        with contextlib.suppress(ConnectionClosed):  # the read that follows finds out how
            await self.ws.send(wire.request(kind, position, len(self.requests) - 1, token))

    async def read(self):
        """Read until completion (None), a break (Break) or an error (its kind)."""
        ws = self.ws
        self.streaming.append([self.now()])
        acks = asyncio.get_running_loop().create_task(self.ack_every(ws))
        try:
            while True:
                message = await ws.recv()
                if isinstance(message, str):
                    msg = wire.parse(message)
                    if msg["type"] == "error":
                        await ws.close()
                        return msg["error"]
                    continue
                seq, digest, ok = wire.decode_frame(message)
                if not ok or seq > self.have:
                    self.corrupt += not ok
                    self.gaps += ok
                    await ws.close()
                    return "protocol_error"
                if seq < self.have:
                    self.duplicates += 1
                    continue
                self.take(seq, digest)
                if self.have >= self.n:
                    return await self.complete(ws)
        except ConnectionClosed as closed:
            return self.detect(closed)
        finally:
            acks.cancel()
            # a heartbeat that gave up leaves the client failing the connection, deaf to it (as
            # the model's client): an outage from then on no longer hits a connection it reads
            self.streaming[-1].append(min(self.now(), self.gave_up))
            self.gave_up = math.inf

    def take(self, seq: int, digest: int) -> None:
        t = self.now()
        self.seqs.append(seq)
        self.digests.append(digest)
        self.have += 1
        self.progress.append((t, self.have))
        last = self.disconnects[-1] if self.disconnects else None
        if last is not None and math.isnan(last.resumed_at) and not math.isnan(last.connected_at):
            last.resumed_at = t
        if self.log[-1][1] == "resuming":
            self.set_state("streaming", t)
        if self.have >= self.n:
            self.completed_at = t

    async def complete(self, ws) -> None:
        """The last frame is in: the final ack, then a normal close (bounded by close_timeout)."""
        try:
            await ws.send(wire.ack(self.have))
            await ws.close()
        except ConnectionClosed:
            pass
        self.ws = None

    async def ack_every(self, ws) -> None:
        try:
            while True:
                await asyncio.sleep(self.cfg.client.ack_interval)
                await ws.send(wire.ack(self.have))
        except ConnectionClosed:
            pass

    # ---- a break
    def detect(self, closed: ConnectionClosed) -> Break:
        """How the client learned of the break, and what caused it (the omniscient recorder)."""
        ws, now = self.ws, self.now()
        sent, rcvd = closed.sent, closed.rcvd
        if (
            sent is not None
            and sent.reason == "keepalive ping timeout"
            and not closed.rcvd_then_sent
        ):
            ping = ws.ping_times[-1] - self.t0 if ws.ping_times else now
            self.gave_up = ping + self.cfg.client.ping_timeout
            return self.blame(("close", "reset", "half_open"), now, "heartbeat", ping)
        if rcvd is not None:
            return self.blame(("close",), now, "close_frame", now)
        if isinstance(getattr(ws, "connection_exc", None), ConnectionResetError):
            return self.blame(("reset",), now, "reset", now)
        return self.blame(("close", "reset", "half_open"), now, "eof", now)

    def blame(
        self, kinds: tuple[str, ...], now: float, detected_by: str, ping_sent: float
    ) -> Break:
        """The latest weather event of `kinds` during this connection that can explain the break;
        for a heartbeat timeout, one whose outage overlaps the unanswered ping and that began before
        the keepalive gave up (the connection is declared dead then; closing it takes longer).
        None: `loss` for a heartbeat timeout (a stall with no outage behind it), `unexplained` for
        any other break."""
        latest, overlap = now, -math.inf
        if detected_by == "heartbeat":
            latest, overlap = (
                ping_sent + self.cfg.client.ping_timeout,
                ping_sent - self.cfg.client.ping_interval,
            )
        for ev in reversed(self.weather.events):
            if (
                ev.kind in kinds
                and self.opened <= ev.time <= latest
                and ev.time + ev.outage > overlap
            ):
                return Break(ev.kind, ev.time, detected_by)
        return Break(
            "loss" if detected_by == "heartbeat" else "unexplained", ping_sent, detected_by
        )

    def begin_disconnect(self, brk: Break) -> DisconnectRecord:
        self.ws.transport.abort()  # closed already; nothing is left to send
        self.ws = None
        rec = DisconnectRecord(
            index=len(self.disconnects),
            cause=brk.cause,
            detected_by=brk.detected_by,
            time=brk.time,
            detected_at=self.now(),
            generated_at_break=-1,
            outage_left=self.weather.up_again(brk.time) - brk.time,
        )
        self.disconnects.append(rec)
        self.set_state("disconnected")
        return rec

    # ---- connecting
    async def connect(self, rec: DisconnectRecord | None) -> str | None:
        """Attempts with backoff until connected (returns the auth token to present) or giving up
        (None: network_timeout)."""
        c = self.cfg.client
        backoff = BackoffSchedule(c.backoff, self.rng)
        start = self.now()
        while True:
            if backoff.attempt >= c.backoff.max_attempts:
                return None
            wait = backoff.next()
            if self.now() + wait - start > c.backoff.deadline:
                return None
            if wait > 0:
                self.set_state("backing_off")
                await asyncio.sleep(wait)
            self.set_state("connecting")
            if rec is not None:
                rec.attempts += 1
                rec.backoff_wait += wait
            if await self.attempt():
                break
        token = "valid"
        if rec is not None:
            if self.rng.random() < c.auth_failure_prob:  # the model's draw, at the same point
                token = "expired"  # the server refuses it; as in the model, never `connected`
            else:
                rec.connected_at = self.now()
        return token

    async def attempt(self) -> bool:
        c = self.cfg.client
        try:
            self.ws = await connect(
                f"ws://127.0.0.1:{self.port}/",
                open_timeout=c.connect_timeout,
                ping_interval=c.ping_interval,
                ping_timeout=c.ping_timeout,
                close_timeout=self.close_timeout,
                compression=None,
                max_size=None,
                create_connection=RecordingConnection,
            )
        except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as e:
            name = type(e).__name__
            self.attempt_errors[name] = self.attempt_errors.get(name, 0) + 1
            return False
        self.opened = self.now()
        return True
