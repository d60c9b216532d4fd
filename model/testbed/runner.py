"""`run_testbed`: run streams of a scenario on the real stack and return the model's tables.

One process runs the clients (this one) and a child process runs the servers and the fault
injectors (`server_process`); they share the monotonic clock, so a stream's start `t0` means the
same moment to both. Streams run `concurrency` at a time; each has its own server port, so the
kernel's rules for one stream never touch another. Everything a run creates is removed on every
way out: the nftables table (normal end, exception, Ctrl-C, SIGTERM, interpreter exit; a stale one
of a dead owner at the next start), the child process (told to stop, then killed if it does not).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import pickle
import platform
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import websockets
from tqdm import tqdm

import model
from model.config import ConfigError, Scenario, settable_paths
from model.content import make_frames
from model.network import Weather
from model.seeds import component_rng, stream_rngs
from model.simulation import Results, tables
from model.testbed import nft
from model.testbed.client import StreamClient
from model.testbed.faults import FAULT_COLUMNS
from model.testbed.records import fill_disconnects, stream_record
from model.testbed.server import Settings
from model.testbed.timing import LagMonitor, summary

CLOSE_GRACE = 0.05  # s: a `close` fault's drop waits this long for the closing handshake
LEAD = 0.1  # s: a stream starts this long after its server is asked to open
# s: streams start at least this far apart, so that their first handshakes do not queue behind
# each other on the event loops (the model's streams share no host; a burst of simultaneous
# starts added up to 12 ms to the first connection at concurrency 16)
START_GAP = 0.01
NOT_APPLIED = (
    "link.propagation",
    "link.bandwidth",
    "network.*.jitter",
    "link.rto_min",
    "link.rto_max",
    "link.tcp_retries",
    "link.syn_rto",
    "client.handshake_rtts",
    "engine",
)


class TestbedError(RuntimeError):
    """The testbed could not run (nftables unusable, the server process failed)."""


@dataclass
class TestbedResults(Results):
    """The model's two tables, measured, plus:

    `faults`: one row per fault scheduled before the horizon (each weather event; each lossy
    condition period): `scheduled_start/end` (from the stream's start), `applied_start/end` (when
    the rules were in force; NaN if the stream had ended before the fault), `live` (the server had
    a connection attached when it began), `loss` (drop probability of a loss fault), `packets`
    (dropped or rejected by its rules), `packets_rejected` (reset), `packets_sent` (sent on the
    port while it was in force).
    `provenance`: settings, seed, versions (websockets, kernel, nft, python), loopback round trip
    and the kernel's RTT/RTO, event-loop lag of both processes, how late faults were applied,
    failed connection attempts by error, what the testbed does not apply, wall time."""

    faults: pd.DataFrame
    provenance: dict


def check_available() -> str | None:
    """None if the testbed can run here (root, a usable `nft`); otherwise the reason, one line."""
    return nft.unavailable_reason()


def check_scenario(cfg: Scenario) -> None:
    """Refuse settings the testbed cannot reproduce (one line: field, value, what is allowed)."""
    if cfg.session.streams != 1:
        raise ConfigError(
            "session.streams", cfg.session.streams, "1 (the testbed runs single-stream sessions)"
        )
    if cfg.link.corruption_rate > 0:
        raise ConfigError(
            "link.corruption_rate",
            cfg.link.corruption_rate,
            "0 (the testbed cannot corrupt frames past TCP's checksum)",
        )
    if cfg.client.heartbeat_stretch_max != 1:
        raise ConfigError(
            "client.heartbeat_stretch_max",
            cfg.client.heartbeat_stretch_max,
            "1 (websockets' keepalive has a fixed ping_timeout)",
        )


def run_testbed(
    cfg: Scenario,
    streams: int,
    seed: int = 0,
    *,
    first_stream: int = 0,
    concurrency: int = 16,
    progress: bool = True,
    close_timeout: float | None = None,
    close_grace: float = CLOSE_GRACE,
    on_stream_open: Callable[[int], None] | None = None,
) -> TestbedResults:
    """Run streams first_stream .. first_stream+streams-1 of `cfg` (seed `seed`) on websockets over
    loopback TCP, faults applied by nftables from each stream's model weather. `close_timeout` is
    websockets' (client and server), by default the scenario's `client.close_timeout`;
    `on_stream_open(i)` is called once stream i's server is up."""
    if streams < 1:
        raise ConfigError("streams", streams, "a positive whole number")
    if concurrency < 1:
        raise ConfigError("concurrency", concurrency, "a positive whole number")
    check_scenario(cfg)
    reason = check_available()
    if reason:
        raise TestbedError(reason)
    nft.remove_stale_tables()
    table = nft.table_name()
    if close_timeout is None:
        close_timeout = cfg.client.close_timeout
    settings = Settings(cfg, seed, table, close_timeout, close_grace, os.getpid())
    run = Run(
        settings, range(first_stream, first_stream + streams), concurrency, progress, on_stream_open
    )
    previous = signal.getsignal(signal.SIGTERM) if _main_thread() else None
    with nft.installed(table):
        try:
            return asyncio.run(run.main())
        except asyncio.CancelledError:
            if run.terminated:
                raise SystemExit(128 + signal.SIGTERM) from None
            raise
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class ServerChild:
    """The server process and its control channel."""

    def __init__(self, proc, reader, writer):
        self.proc, self.reader, self.writer = proc, reader, writer
        self.ids = itertools.count()
        self.pending: dict[int, asyncio.Future] = {}
        self.listener = asyncio.get_running_loop().create_task(self.listen())

    @classmethod
    async def start(cls, settings: Settings) -> ServerChild:
        root = os.path.dirname(os.path.dirname(os.path.abspath(model.__file__)))
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        )
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "model.testbed.server_process",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
        )
        try:
            proc.stdin.write(pickle.dumps(settings))
            await proc.stdin.drain()
            proc.stdin.close()
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            if not line.strip().isdigit():
                raise TestbedError(f"the server process did not start (it said {line!r})")
            reader, writer = await asyncio.open_connection("127.0.0.1", int(line))
        except BaseException:
            await _stop(proc, 0.0)
            raise
        return cls(proc, reader, writer)

    async def listen(self) -> None:
        while line := await self.reader.readline():
            reply = json.loads(line)
            future = self.pending.pop(reply["id"], None)
            if future is None or future.done():
                continue
            if "error" in reply:
                future.set_exception(TestbedError("server process: " + reply["error"]))
            else:
                future.set_result(reply["result"])
        for future in self.pending.values():
            if not future.done():
                future.set_exception(TestbedError("the server process closed its control channel"))

    async def call(self, op: str, **args):
        ident = next(self.ids)
        future = self.pending[ident] = asyncio.get_running_loop().create_future()
        self.writer.write((json.dumps({"id": ident, "op": op, "args": args}) + "\n").encode())
        return await future

    async def round_trips(self, count: int) -> dict:
        times = []
        for _ in range(count):
            sent = time.monotonic()
            await self.call("ping")
            times.append(time.monotonic() - sent)
        return summary(times)

    def kernel_rtt(self) -> dict:
        """The kernel's smoothed RTT and RTO of the control connection (struct tcp_info)."""
        info = self.writer.get_extra_info("socket").getsockopt(
            socket.IPPROTO_TCP, socket.TCP_INFO, 104
        )
        rto, rtt, rttvar = (
            struct.unpack_from("<I", info, 8)[0],
            *struct.unpack_from("<II", info, 68),
        )
        return {"srtt": rtt / 1e6, "rttvar": rttvar / 1e6, "rto": rto / 1e6}

    async def close(self, grace: float) -> None:
        """Close the control channel (the child finishes its streams and exits); kill it if late."""
        self.writer.close()
        await _stop(self.proc, grace)
        self.listener.cancel()


async def _stop(proc, grace: float) -> None:
    try:
        await asyncio.wait_for(asyncio.shield(proc.wait()), grace)
    except TimeoutError:
        proc.kill()
        await proc.wait()


class Run:
    def __init__(
        self, settings: Settings, streams: range, concurrency: int, progress: bool, on_open
    ):
        self.settings, self.streams, self.concurrency = settings, streams, concurrency
        self.progress, self.on_open = progress, on_open
        self.terminated = False
        self.attempt_errors: dict[str, int] = {}
        self.next_start = -math.inf  # the earliest start of the next stream (`START_GAP`)

    def on_sigterm(self, task: asyncio.Task) -> None:
        self.terminated = True
        task.cancel()

    async def main(self) -> TestbedResults:
        loop, started = asyncio.get_running_loop(), time.monotonic()
        if _main_thread():
            loop.add_signal_handler(signal.SIGTERM, self.on_sigterm, asyncio.current_task())
        lag = LagMonitor()
        server = await ServerChild.start(self.settings)
        try:
            rtt = {
                "control_round_trip": await server.round_trips(20),
                "kernel_tcp": server.kernel_rtt(),
            }
            gate = asyncio.Semaphore(self.concurrency)
            with tqdm(
                total=len(self.streams), disable=not self.progress, desc="testbed streams"
            ) as bar:
                try:
                    async with asyncio.TaskGroup() as group:  # the first failure cancels the rest
                        tasks = [
                            group.create_task(self.stream(server, gate, i, bar))
                            for i in self.streams
                        ]
                except BaseExceptionGroup as failed:
                    raise failed.exceptions[0] from None  # the failure itself, not its group
            server_lag = await server.call("lag")
        finally:
            await server.close(grace=self.settings.close_timeout + 5.0)
        parts = [t.result() for t in tasks]
        provenance = self.provenance(
            rtt, {"client": lag.stop(), "server": server_lag}, time.monotonic() - started, parts
        )
        real = tables([p[0] for p in parts], self.settings.cfg)
        return TestbedResults(
            real.streams,
            real.disconnects,
            pd.DataFrame([r for p in parts for r in p[1]], columns=FAULT_COLUMNS),
            provenance,
        )

    async def stream(self, server: ServerChild, gate: asyncio.Semaphore, i: int, bar) -> tuple:
        s = self.settings
        async with gate:
            weather = Weather(s.cfg, component_rng(s.seed, i, "network"))
            frames = make_frames(s.cfg.content, stream_rngs(s.seed, i)["content"])
            t0 = max(time.monotonic() + LEAD, self.next_start)
            self.next_start = t0 + START_GAP
            port = (await server.call("open", stream=i, t0=t0))["port"]
            if self.on_open is not None:
                self.on_open(i)
            client = StreamClient(s.cfg, s.seed, i, port, t0, weather, len(frames), s.close_timeout)
            await client.run()
        # a failed stream's buffer may still grow: its server is drained outside the gate
        log = await server.call("finish", stream=i, drain=client.outcome == "failed")
        for name, count in client.attempt_errors.items():
            self.attempt_errors[name] = self.attempt_errors.get(name, 0) + count
        fill_disconnects(client, log["server"])
        bar.update()
        return (
            stream_record(s.cfg, i, client, log["server"], frames),
            log["faults"],
        )

    def provenance(self, rtt: dict, lags: dict, wall: float, parts: list) -> dict:
        s = self.settings
        rows = [r for p in parts for r in p[1]]
        started = [r for r in rows if math.isfinite(r["applied_start"])]
        ended = [
            r for r in rows if r["applied_end"] >= r["scheduled_end"]
        ]  # not cut short by the stream's end
        return {
            "settings": {x.path: x.value for x in settable_paths(s.cfg)},
            "scenario": s.cfg.name,
            "seed": s.seed,
            "streams": len(self.streams),
            "first_stream": self.streams.start,
            "concurrency": self.concurrency,
            "close_timeout": s.close_timeout,
            "close_grace": s.close_grace,
            "server_keepalive": "off (ping_interval=None): the client's keepalive finds silences",
            "websockets": websockets.__version__,
            "python": platform.python_version(),
            "kernel": platform.release(),
            "nft": nft.version(),
            "table": s.table,
            "loopback_rtt": rtt,
            "first_connect_s": first_connect(p[0] for p in parts),
            "loop_lag": lags,
            "fault_start_lag": {
                k: summary(
                    [r["applied_start"] - r["scheduled_start"] for r in started if r["kind"] == k]
                )
                for k in sorted({r["kind"] for r in started})
            },
            "fault_end_lag": summary([r["applied_end"] - r["scheduled_end"] for r in ended]),
            "attempt_errors": dict(self.attempt_errors),
            "not_applied": list(NOT_APPLIED)
            + ["network.*.loss (Gilbert-Elliott): its long-run rate is applied"],
            "wall_time": wall,
        }


def first_connect(records) -> float | None:
    """Median time the attempt that opened a stream's first connection took (TCP and WebSocket
    handshakes, before any fault can strike): what the server's handshake processing costs. The
    attempt starts at the log's last `connecting` entry before the stream first streams (not at
    the stream's start: `backoff.first_delay` may come first)."""
    times = []
    for r in records:
        first_break = r.disconnect_log[0].time if r.disconnect_log else math.inf
        began = None
        for t, state in r.log:
            if state == "connecting":
                began = t
            elif state in ("streaming", "resuming"):
                if began is not None and t < first_break:
                    times.append(t - began)
                break
    return float(np.median(times)) if times else None
