"""Faults by the kernel: stream i's weather (the model's, same seed) turned into nftables rules.

For stream i (= session i) the weather is `Weather(cfg, component_rng(seed, i, "network"))`, the
model's own; time 0 is the stream's start. Each fault acts on the stream's server port P, in both
directions (`tcp dport P`: client -> server, `tcp sport P`: server -> client):

- `half_open`: every packet is dropped for the outage (nothing is torn down).
- `reset`: the connection live at the event is reset: its packets (the 4-tuple P <-> C) are
  rejected `with tcp reset`, RST packets exempted (`tcp flags & rst == 0`), or the RSTs the
  rejects generate would be rejected (or dropped) in turn and the reset would silently become a
  blackout; RSTs on that 4-tuple are accepted ahead of any drop. Every other packet of port P is
  dropped for the outage (a new connection's SYN goes unanswered, as in the model). A side learns
  of the reset when it next sends: the server at once (it streams), the client at its next ack or
  ping. With no live connection a reset is just the outage.
- `close`: the outage starts for every packet of port P but the live connection's; the server
  closes that connection (a close frame, code 1001) and, once the closing handshake is done (on
  loopback it takes a millisecond) or after `close_grace`, its packets are dropped too. So both
  sides know at once, as the model assumes, and no reconnection slips in before the outage.
- `loss`: while a condition with a positive loss rate is in force, each packet is dropped with the
  condition's long-run loss rate (`Loss.rate()`: Gilbert-Elliott bursts are approximated by their
  long-run rate) by `numgen random mod 1000000 < K`, per direction; TCP repairs it.

Delay and jitter are not injected: this kernel has no `sch_netem`, and they are not faked in user
space (the link's propagation, jitter and bandwidth settings do not apply to the testbed).

Every rule counts into a named counter; the output chain counts the packets sent on the port while
a fault is active. How late each fault is applied against its schedule is measured: rules change
through libnftables in a thread of the server process, so a change lands about a millisecond
after its time, plus whatever delays the event loop's timer.
"""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass, field

from model.config import CONDITIONS, Scenario
from model.network import Weather
from model.testbed import nft

LOSS_SCALE = 1_000_000  # numgen modulus: loss rates are applied to 1e-6


@dataclass
class Fault:
    """One scheduled fault of one stream and what became of it (times from the stream's start)."""

    index: int
    kind: str  # close | reset | half_open | loss
    start: float
    end: float
    loss: float = 0.0  # loss: the drop probability applied
    applied_start: float = math.nan
    applied_end: float = math.nan
    live: bool = False  # the server had a connection attached when the fault began
    rules: list = field(default_factory=list)  # (chain, handle) of the rules in force

    def row(self, stream: int, counters: dict[str, tuple[int, int]], prefix: str) -> dict:
        def count(what: str) -> int:
            return counters.get(f"{prefix}{self.index}_{what}", (0, 0))[0]

        return {
            "stream": stream,
            "fault": self.index,
            "kind": self.kind,
            "scheduled_start": self.start,
            "scheduled_end": self.end,
            "applied_start": self.applied_start,
            "applied_end": self.applied_end,
            "live": self.live,
            "loss": self.loss,
            "packets": count("drop") + count("rej"),
            "packets_rejected": count("rej"),
            "packets_sent": count("sent"),
        }


FAULT_COLUMNS = [
    "stream",
    "fault",
    "kind",
    "scheduled_start",
    "scheduled_end",
    "applied_start",
    "applied_end",
    "live",
    "loss",
    "packets",
    "packets_rejected",
    "packets_sent",
]


def plan(cfg: Scenario, weather: Weather) -> list[Fault]:
    """The faults of one stream before its horizon: its disconnect events and its lossy periods."""
    items = [
        (e.time, e.kind, min(e.time + e.outage, cfg.horizon), 0.0)
        for e in weather.events
        if e.time < cfg.horizon
    ]
    ends = weather.cond_start_list[1:] + [cfg.horizon]
    for start, end, state in zip(weather.cond_start_list, ends, weather.cond_list):
        rate = cfg.network.condition(CONDITIONS[state]).loss.rate()
        if round(rate * LOSS_SCALE) > 0 and start < end:
            items.append((start, "loss", end, rate))
    return [
        Fault(i, kind, start, end, loss) for i, (start, kind, end, loss) in enumerate(sorted(items))
    ]


# ---------------------------------------------------------------- rule text


def _rule(table: str, verb: str, chain: str, match: str, action: str) -> str:
    return f"{verb} rule {nft.FAMILY} {table} {chain} {match} {action}"


def drop_rules(table: str, port: int, drop: str, sent: str, but: int | None = None) -> list[str]:
    """Drop every packet of the port (but those of the connection from client port `but`)."""
    spare = ("", "") if but is None else (f" tcp sport != {but}", f" tcp dport != {but}")
    return [
        _rule(table, "add", "input", f"tcp dport {port}{spare[0]}", f'counter name "{drop}" drop'),
        _rule(table, "add", "input", f"tcp sport {port}{spare[1]}", f'counter name "{drop}" drop'),
        *count_rules(table, port, sent),
    ]


def count_rules(table: str, port: int, sent: str) -> list[str]:
    return [
        _rule(table, "add", "output", f"tcp dport {port}", f'counter name "{sent}"'),
        _rule(table, "add", "output", f"tcp sport {port}", f'counter name "{sent}"'),
    ]


def loss_rules(table: str, port: int, rate: float, drop: str, sent: str) -> list[str]:
    k = round(rate * LOSS_SCALE)
    pick = f"numgen random mod {LOSS_SCALE} < {k}"
    return [
        _rule(table, "add", "input", f"tcp dport {port} {pick}", f'counter name "{drop}" drop'),
        _rule(table, "add", "input", f"tcp sport {port} {pick}", f'counter name "{drop}" drop'),
        *count_rules(table, port, sent),
    ]


def reset_rules(table: str, port: int, client_port: int, rejected: str) -> list[str]:
    """Reject the connection's packets with a TCP reset, RSTs exempted and let through. `insert`
    puts each rule first, so the RST accepts (inserted last) come before every drop."""
    directions = ((port, client_port), (client_port, port))
    verdicts = (
        ("0", f'counter name "{rejected}" reject with tcp reset'),
        ("rst", "accept"),
    )
    return [
        _rule(
            table,
            "insert",
            "input",
            f"tcp sport {src} tcp dport {dst} tcp flags & rst == {rst}",
            verdict,
        )
        for rst, verdict in verdicts
        for src, dst in directions
    ]


# ---------------------------------------------------------------- applying them


class Injector:
    """Applies one stream's faults at their times (a task in the server process).

    `served` is the stream on the server: `served.live()` gives the attached connection (or None),
    whose `ws` the close closes and whose `client_port` the reset rejects."""

    def __init__(
        self,
        table: str,
        stream: int,
        port: int,
        t0: float,
        faults: list[Fault],
        served,
        close_grace: float,
    ):
        self.table, self.stream, self.port, self.t0 = table, stream, port, t0
        self.faults, self.served, self.close_grace = faults, served, close_grace
        self.prefix = f"s{stream}_f"
        self.stopping = asyncio.Event()
        self.counters: list[str] = []  # made with a fault's first rules: the table stays small
        self.task = asyncio.get_running_loop().create_task(self.run())

    def now(self) -> float:
        return asyncio.get_running_loop().time() - self.t0

    async def run(self) -> None:
        """Start and stop each fault at its time, until told to stop (a batch under way always
        completes, so its handles are never lost)."""
        # at equal times ends come before starts, except a fault's own end (a zero-length outage)
        actions = sorted(
            [(f.start, 1, f.index) for f in self.faults]
            + [(f.end, 2 if f.end <= f.start else 0, f.index) for f in self.faults]
        )
        for t, order, index in actions:
            try:
                await asyncio.wait_for(self.stopping.wait(), max(0.0, t - self.now()))
                return
            except TimeoutError:
                pass
            fault = self.faults[index]
            await (self.begin(fault) if order == 1 else self.end(fault))

    async def begin(self, f: Fault) -> None:
        live = self.served.live()
        f.live = live is not None
        name = f"{self.prefix}{f.index}_"
        if f.kind == "loss":
            await self.apply(
                f, loss_rules(self.table, self.port, f.loss, name + "drop", name + "sent")
            )
        elif f.kind == "close" and live is not None:
            # the outage starts now for every packet but the live connection's, which carries the
            # closing handshake; then that connection's packets are dropped too
            await self.apply(
                f,
                drop_rules(
                    self.table, self.port, name + "drop", name + "sent", but=live.client_port
                ),
            )
            closing = asyncio.ensure_future(live.ws.close(1001, "going away"))
            await asyncio.wait({closing}, timeout=self.close_grace)
            await self.apply(
                f,
                drop_rules(self.table, self.port, name + "drop", name + "sent")[:2],
                started=False,
            )
        else:
            rules = drop_rules(self.table, self.port, name + "drop", name + "sent")
            if f.kind == "reset" and live is not None:
                rules += reset_rules(self.table, self.port, live.client_port, name + "rej")
            await self.apply(f, rules)

    async def apply(self, f: Fault, rules: list[str], started: bool = True) -> None:
        """Add `rules` (and the counters they name, the first time) in one batch."""
        named = {c for rule in rules for c in re.findall(r'counter name "([^"]+)"', rule)}
        new = sorted(named.difference(self.counters))
        self.counters += new
        batch = [f"add counter {nft.FAMILY} {self.table} {c}" for c in new] + rules
        out = await nft.run_async("\n".join(batch) + "\n")
        handles = nft.echoed_handles(out)
        f.rules += handles
        if len(handles) != len(rules):
            raise nft.NftError(
                f"expected {len(rules)} rule handles from nft, got {len(handles)}: {out!r}"
            )
        if started:
            f.applied_start = self.now()

    async def end(self, *faults: Fault) -> None:
        """Delete the rules of `faults` in one batch."""
        ending = [f for f in faults if f.rules]
        if not ending:
            return
        await nft.run_async(
            "".join(
                f"delete rule {nft.FAMILY} {self.table} {chain} handle {h}\n"
                for f in ending
                for chain, h in f.rules
            )
        )
        for f in ending:
            f.rules = []
            f.applied_end = self.now()

    async def finish(self) -> list[dict]:
        """Stop: remove the rules in force, read and delete the counters; one row per fault."""
        self.stopping.set()
        try:
            await self.task
        finally:
            await self.end(*self.faults)
        counters = await nft.read_counters(self.table, self.prefix) if self.counters else {}
        if self.counters:
            await nft.run_async(
                "".join(f"delete counter {nft.FAMILY} {self.table} {c}\n" for c in self.counters)
            )
        return [f.row(self.stream, counters, self.prefix) for f in self.faults]
