"""The testbed's server process: every stream's websockets server and fault injector.

Servers and faults run in a process of their own, apart from the clients, so the two sides do not
delay each other's timers (the machine has two cores). The parent starts it with
`python -m model.testbed.server_process`, writes the settings (pickled) to its stdin and reads
the port of its control channel from its stdout. The control channel is a plain TCP connection on
127.0.0.1 carrying JSON lines: requests `{"id", "op", "args"}`, replies `{"id", "result"}` or
`{"id", "error"}`. Operations: `open` a stream (its server on a port of its own and its faults,
scheduled from the stream's start `t0`, a monotonic time shared by both processes), `finish` it
(its server's log and its fault rows), `ping` (a round trip), `lag` (this loop's lag so far).

The process is bounded: it stops when the control connection closes (the parent finished, failed
or died). If the parent is gone by then, it deletes the parent's nftables table itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import pickle
import signal
import sys
import traceback

from websockets.asyncio.server import serve

from model.network import Weather
from model.seeds import component_rng
from model.testbed import faults, nft
from model.testbed.server import ServedStream, Settings
from model.testbed.timing import LagMonitor

SETTLE = 1.0  # s: how long `finish` waits for the last connection's handler to drain


class StreamHost:
    """One stream on the server side: its state, its websockets server and its fault injector."""

    def __init__(self, settings: Settings, stream: int, t0: float):
        self.served = ServedStream(settings.cfg, settings.seed, stream, t0)
        self.settings, self.stream, self.t0 = settings, stream, t0
        self.server = None
        self.injector: faults.Injector | None = None

    async def start(self) -> int:
        s = self.settings
        self.server = await serve(
            self.served.handler,
            "127.0.0.1",
            0,
            ping_interval=None,
            close_timeout=s.close_timeout,
            compression=None,
            max_size=None,
            logger=quiet_logger(),
        )
        port = self.server.sockets[0].getsockname()[1]
        weather = Weather(s.cfg, component_rng(s.seed, self.stream, "network"))
        plan = faults.plan(s.cfg, weather)
        self.injector = faults.Injector(
            s.table, self.stream, port, self.t0, plan, self.served, s.close_grace
        )
        return port

    async def finish(self, drain: bool) -> dict:
        """Stop the stream (its client has ended); with `drain`, first let its buffer reach its
        peak (the buffer of a failed stream outlives its client), at most up to the horizon."""
        await self.served.settle(SETTLE)
        self.server.close(close_connections=False)
        try:
            rows = await self.injector.finish()
            if drain:
                await self.served.drain(self.t0 + self.settings.cfg.horizon)
        finally:
            self.served.stop()
        return {"server": self.served.log(), "faults": rows}


def quiet_logger() -> logging.Logger:
    """websockets' logger for the testbed: failed handshakes are the experiment, not news."""
    logger = logging.getLogger("midstream.testbed.websockets")
    logger.setLevel(logging.CRITICAL)
    return logger


class ServerProcess:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.streams: dict[int, StreamHost] = {}
        self.closed = asyncio.Event()
        self.lag: LagMonitor | None = None

    async def main(self) -> None:
        self.lag = LagMonitor()
        control = await asyncio.start_server(self.control, "127.0.0.1", 0)
        print(control.sockets[0].getsockname()[1], flush=True)
        try:
            await self.closed.wait()
        finally:
            control.close()
            for stream in list(self.streams):
                await self.op_finish(stream)
            if not nft.pid_alive(self.settings.parent):
                nft.delete_table(self.settings.table)

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tasks = set()
        while line := await reader.readline():
            task = asyncio.create_task(self.dispatch(json.loads(line), writer))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        self.closed.set()

    async def dispatch(self, request: dict, writer: asyncio.StreamWriter) -> None:
        try:
            result = await getattr(self, "op_" + request["op"])(**request.get("args", {}))
            reply = {"id": request["id"], "result": result}
        except Exception:  # noqa: BLE001 - any failure goes back to the parent, which raises it
            reply = {"id": request["id"], "error": traceback.format_exc()}
        writer.write((json.dumps(reply) + "\n").encode())

    async def op_open(self, stream: int, t0: float) -> dict:
        host = self.streams[stream] = StreamHost(self.settings, stream, t0)
        return {"port": await host.start()}

    async def op_finish(self, stream: int, drain: bool = False) -> dict:
        return await self.streams.pop(stream).finish(drain)

    async def op_ping(self) -> dict:
        return {}

    async def op_lag(self) -> dict:
        return self.lag.stop()

    async def op_shutdown(self) -> dict:
        self.closed.set()
        return {}


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    settings: Settings = pickle.loads(sys.stdin.buffer.read())
    asyncio.run(ServerProcess(settings).main())
    os._exit(0)  # no lingering threads (asyncio's subprocess watchers) keep a finished server alive


if __name__ == "__main__":
    main()
