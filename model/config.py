"""The scenario configuration: frozen, typed, validated, every field with its unit.

A `Scenario` is a tree of frozen dataclasses. Any leaf can be overridden by a dotted path
(`network.unstable.jitter.scale=0.05`) with `override`; `settable_paths` lists every leaf with its
value, unit, meaning and allowed values. Invalid values raise `ConfigError`.

Default values and where they come from are documented field by field; README.md ("Model
assumptions") explains the assumptions behind them.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from model.distributions import Dist
from model.fields import (
    UNIT_LIMITS,
    ConfigError,
    allowed_text,
    field_type,
    parse_number,
    spec,
    validate,
)


# Fixed choices. Settings hold the plain strings; code compares them with these members.
class DisconnectKind(StrEnum):
    CLOSE = "close"
    RESET = "reset"
    HALF_OPEN = "half_open"


class LossModel(StrEnum):
    NONE = "none"
    BERNOULLI = "bernoulli"
    GILBERT_ELLIOTT = "gilbert_elliott"


class Strategy(StrEnum):
    RESUME = "resume"
    RESTART = "restart"


class WhenFull(StrEnum):
    BLOCK = "block"
    EVICT = "evict"


class ReplayFrom(StrEnum):
    CLIENT = "client"
    ACK = "ack"


class EngineKind(StrEnum):
    BULK = "bulk"
    PER_FRAME = "per_frame"


def values(choices: type[StrEnum]) -> tuple[str, ...]:
    """The plain strings of a choice (what settings and tables hold)."""
    return tuple(member.value for member in choices)


CONDITIONS = ("stable", "unstable", "poor")
MIN_PERIOD = 0.001  # s: the fastest protocol timer (acks, pings)
MAX_FRAME_BYTES = 1_000_000_000  # B: the largest frame payload or envelope
DISCONNECT_KINDS = values(DisconnectKind)
TEARDOWNS = (DisconnectKind.CLOSE, DisconnectKind.RESET)  # the kinds that tear a connection down
INF = math.inf


@dataclass(frozen=True)
class Loss:
    """Per-transmission loss on the wire (repaired by TCP retransmission, never a missing frame).

    `gilbert_elliott` follows Linux netem's `loss gemodel p r 1-h 1-k`: a two-state Markov chain
    stepping once per transmission, with `p` = P(good->bad), `r` = P(bad->good), and loss
    probabilities `loss_good` (1-k) and `loss_bad` (1-h). `bernoulli` loses each transmission
    independently with probability `p`.
    """

    model: str = spec("bernoulli", "-", "loss model", choices=values(LossModel))
    p: float = spec(
        0.0,
        "prob",
        "bernoulli: loss probability; gilbert_elliott: P(good->bad)",
        lo=0.0,
        hi=0.5,
        hi_open=True,
    )
    r: float = spec(
        1.0, "prob", "gilbert_elliott: P(bad->good) per transmission", lo=0.0, hi=1.0, lo_open=True
    )
    loss_good: float = spec(
        0.0,
        "prob",
        "gilbert_elliott: loss probability in the good state (1-k)",
        lo=0.0,
        hi=0.5,
        hi_open=True,
    )
    loss_bad: float = spec(
        1.0, "prob", "gilbert_elliott: loss probability in the bad state (1-h)", lo=0.0, hi=1.0
    )

    def __post_init__(self):
        validate(self)

    def rate(self) -> float:
        """Long-run fraction of transmissions lost: pi_G(1-k) + pi_B(1-h), pi_B = p/(p+r)."""
        if self.model == LossModel.NONE:
            return 0.0
        if self.model == LossModel.BERNOULLI:
            return self.p
        pi_bad = self.p / (self.p + self.r) if self.p > 0 else 0.0
        return (1 - pi_bad) * self.loss_good + pi_bad * self.loss_bad


@dataclass(frozen=True)
class Condition:
    """One named network condition: loss, jitter, disconnect rate, and how long it lasts.

    The conditions form a continuous-time Markov chain: the chain stays in a condition for an
    exponential time of mean `mean_sojourn` (inf = forever), then moves to another condition
    chosen with the `to_*` weights (the weight of the current condition is ignored).
    """

    loss: Loss = Loss()
    jitter: Dist = Dist("constant", 0.0)
    disconnect_rate: float = spec(
        0.0, "1/s", "rate of disconnect events (Poisson) in this condition", lo=0.0
    )
    mean_sojourn: float = spec(
        INF,
        "s",
        "mean time spent in this condition before changing",
        lo=0.0,
        lo_open=True,
        inf="forever",
    )
    to_stable: float = spec(
        1.0, "weight", "relative chance of moving to `stable` on leaving", lo=0.0
    )
    to_unstable: float = spec(
        1.0, "weight", "relative chance of moving to `unstable` on leaving", lo=0.0
    )
    to_poor: float = spec(1.0, "weight", "relative chance of moving to `poor` on leaving", lo=0.0)

    def __post_init__(self):
        validate(self)


# Preset values are our assumptions, chosen to resemble (stable) wired broadband, (unstable) busy
# Wi-Fi / good mobile, (poor) congested mobile with bursty loss. Loss and jitter magnitudes are of
# the order netem tutorials and mobile measurement studies use; disconnect rates are chosen so a
# 20 s stream sees a disconnect rarely (stable), sometimes (unstable: 1 - e^{-20/60} = 28 %) or
# usually (poor).
STABLE = Condition(
    loss=Loss("bernoulli", p=0.001),
    jitter=Dist("halfnormal", 0.005),
    disconnect_rate=1 / 3600,
)
UNSTABLE = Condition(
    loss=Loss("bernoulli", p=0.02),
    jitter=Dist("lognormal", 0.02, 0.8),
    disconnect_rate=1 / 60,
)
POOR = Condition(
    loss=Loss("gilbert_elliott", p=0.05, r=0.3, loss_good=0.01, loss_bad=0.5),
    jitter=Dist("pareto", 0.05, 2.5),
    disconnect_rate=1 / 20,
)


@dataclass(frozen=True)
class Network:
    """Network conditions over time (a Markov chain over the three named presets)."""

    initial: str = spec("unstable", "-", "condition at t = 0", choices=CONDITIONS)
    stable: Condition = STABLE
    unstable: Condition = UNSTABLE
    poor: Condition = POOR

    def __post_init__(self):
        validate(self)

    def condition(self, name: str) -> Condition:
        return getattr(self, name)


@dataclass(frozen=True)
class Link:
    """WebSocket over TCP: reliable, in order while up; loss shows up as delay (RFC 6298 RTO, and
    with `fast_recovery` Linux's SACK/RACK fast retransmit and go-back-N: `model/recovery.py`)."""

    propagation: float = spec(
        0.02,
        "s",
        "one-way propagation delay (a geostationary satellite hop: 0.27 s)",
        lo=0.0,
        hi=10.0,
    )
    bandwidth: float = spec(
        1.25e6,
        "B/s",
        "server->client bandwidth (10 Mbit/s); serialisation + FIFO queueing",
        lo=0.0,
        lo_open=True,
        inf="no serialisation delay",
    )
    rto_min: float = spec(
        0.2,
        "s",
        "minimum retransmission timeout (Linux, as on most servers: 0.2 s; RFC 6298: 1 s)",
        lo=0.001,
    )
    rto_max: float = spec(
        120.0, "s", "maximum retransmission timeout (RFC 6298 / Linux: 120 s)", lo=0.001
    )
    tcp_retries: int = spec(
        15, "count", "retransmissions before TCP gives up (Linux tcp_retries2)", lo=1, hi=30
    )
    syn_rto: float = spec(
        1.0, "s", "initial SYN retransmission timeout when connecting (RFC 6298)", lo=0.001
    )
    corruption_rate: float = spec(
        0.0,
        "prob",
        "chance a frame sent is corrupted in a way TCP misses (the frame checksum catches it)",
        lo=0.0,
        hi=1.0,
        hi_open=True,
    )
    fast_recovery: bool = spec(
        True,
        "-",
        "SACK/RACK fast retransmit and go-back-N after an RTO, "
        "as Linux; false: every frame on its own RTO timer, the RFC 6298 "
        "textbook model",
        choices=(True, False),
    )

    def __post_init__(self):
        validate(self)
        if self.rto_max < self.rto_min:
            raise ConfigError("rto_max", self.rto_max, f"at least rto_min ({self.rto_min})")


@dataclass(frozen=True)
class Disconnects:
    """Disconnect events: a Poisson process (rate from the current condition) plus a fixed schedule.

    Each random (Poisson) event's outage is, independently, `outage_shift` + a draw from `outage`
    with probability `outage_mix`, `outage_shift2` + a draw with probability `outage_mix2`, else a
    plain draw from `outage` (a defensive shifted mixture: a tilt for importance sampling that makes
    long outages common, one shift per failure mode, while keeping every outage length possible;
    the default, both shares 0, is the plain law). Scheduled events keep their outage. With
    `shift_once` the mixture ends with the session's shifted outages (`last_shifted`): the random
    disconnects after them are plain, at the rate times `after_shift_rate`, so that a session
    under a tilt carries one long outage (or one short pair), not a pile of them.

    `schedule` lists deterministic events as `time:kind:outage` separated by `;`
    (e.g. `5:close:1;12.5:half_open:3`), kinds close, reset or half_open.
    """

    rate_scale: float = spec(
        1.0, "x", "multiplier on every condition's disconnect rate (0 = scheduled only)", lo=0.0
    )
    weight_close: float = spec(
        0.4, "weight", "relative share of clean closes (both sides know at once)", lo=0.0
    )
    weight_reset: float = spec(
        0.3, "weight", "relative share of resets (known after about one RTT)", lo=0.0
    )
    weight_half_open: float = spec(
        0.3,
        "weight",
        "relative share of silent black-holes (noticed by heartbeat, if at all)",
        lo=0.0,
    )
    outage: Dist = Dist("exponential", 1.5)
    outage_mix: float = spec(
        0.0,
        "prob",
        "share of random disconnects whose outage is `outage_shift` + a draw from `outage` "
        "(a shifted mixture, for importance sampling; scheduled events unaffected)",
        lo=0.0,
        hi=1.0,
    )
    outage_shift: float = spec(
        0.0, "s", "added to the outage of the `outage_mix` share of random disconnects", lo=0.0
    )
    outage_mix2: float = spec(
        0.0,
        "prob",
        "share of random disconnects whose outage is `outage_shift2` + a draw from `outage` (a "
        "second component of the shifted mixture; outage_mix + outage_mix2 at most 1)",
        lo=0.0,
        hi=1.0,
    )
    outage_shift2: float = spec(
        0.0, "s", "added to the outage of the `outage_mix2` share of random disconnects", lo=0.0
    )
    shifted_scale: float = spec(
        0.0,
        "s",
        "scale of the shifted outages' law beyond their shift (`outage`'s family and shape; 0: "
        "`outage`'s own scale): wider than the plain law's where the failure threshold varies",
        lo=0.0,
    )
    shift_once: bool = spec(
        False,
        "-",
        "true: the shifted mixture holds only until the random outages of at least the shortest "
        "shift add up to the longest (one long shifted outage, or two short ones); later random "
        "disconnects have plain outages, their rate times `after_shift_rate`",
        choices=(True, False),
    )
    after_shift_rate: float = spec(
        1.0,
        "x",
        "with `shift_once`: multiplier on the disconnect rate after the shifted outages (a tilt "
        "returns to the scenario's rate with it)",
        lo=0.0,
    )
    schedule: str = spec("", "-", "deterministic events 'time:kind:outage;...'")

    def __post_init__(self):
        validate(self)
        if self.weight_close + self.weight_reset + self.weight_half_open <= 0:
            raise ConfigError(
                "weight_close", self.weight_close, "the three kind weights must not all be 0"
            )
        if self.outage_mix + self.outage_mix2 > 1:
            raise ConfigError(
                "outage_mix2",
                self.outage_mix2,
                f"at most 1 - outage_mix = {1 - self.outage_mix:g} (the shares of shifted "
                "outages sum to at most 1)",
            )
        if self.shifted_scale > 0 and self.outage.kind == "constant":
            raise ConfigError(
                "shifted_scale", self.shifted_scale, "0 with a constant outage (it has no scale)"
            )
        self.scheduled()

    def shifted_law(self) -> Dist:
        """The law of a shifted outage beyond its shift."""
        if self.shifted_scale == 0:
            return self.outage
        return dataclasses.replace(self.outage, scale=self.shifted_scale)

    def outage_components(self) -> tuple[tuple[float, float], ...]:
        """The shifted components of the outage law as (share, shift), those with a share > 0, in
        the order `network.Weather` draws them (the plain law has the rest of the probability)."""
        return tuple(
            (m, s)
            for m, s in (
                (self.outage_mix, self.outage_shift),
                (self.outage_mix2, self.outage_shift2),
            )
            if m > 0
        )

    def last_shifted(self, outages) -> int | None:
        """With `shift_once`: the index of the random event (in time order, of `outages`) at which
        the outages of at least the shortest shift add up to the longest, after which the mixture
        stops; None while it holds (and always without `shift_once`). An observable rule (outage
        lengths, not which component drew them), so the weather's density stays exact."""
        shifts = [s for _, s in self.outage_components() if s > 0]
        if not self.shift_once or not shifts:
            return None
        shortest, longest, total = min(shifts), max(shifts), 0.0
        for i, x in enumerate(outages):
            if x >= shortest:
                total += x
                if total >= longest:
                    return i
        return None

    def kind_probabilities(self) -> tuple[float, float, float]:
        """P(close), P(reset), P(half_open): the weights normalised."""
        w = (self.weight_close, self.weight_reset, self.weight_half_open)
        return tuple(x / sum(w) for x in w)

    def scheduled(self) -> list[tuple[float, str, float]]:
        """The parsed schedule as (time, kind, outage) sorted by time."""
        events, most = [], UNIT_LIMITS["s"][0]
        for item in filter(None, (s.strip() for s in self.schedule.split(";"))):
            parts = item.split(":")
            try:
                t, kind, outage = parse_number(parts[0]), parts[1].strip(), parse_number(parts[2])
                if len(parts) != 3 or kind not in DISCONNECT_KINDS:
                    raise ValueError
                if not (0 <= t <= most and 0 <= outage <= most):
                    raise ValueError
            except (ValueError, IndexError):
                raise ConfigError(
                    "schedule",
                    item,
                    "entries 'time:kind:outage', time and outage plain numbers in "
                    f"[0, {most:g}] s, kind one of " + ", ".join(DISCONNECT_KINDS),
                ) from None
            events.append((t, kind, outage))
        return sorted(events)


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays. Attempt 1 waits `first_delay`; attempt k >= 2 waits the policy's delay
    for k-2.

    exponential: v = min(cap, base * factor^n); jitter none: v; full: U(0, v);
    equal: v/2 + U(0, v/2); decorrelated: min(cap, U(base, 3 * previous))
    (AWS "Exponential Backoff and Jitter").
    """

    policy: str = spec("exponential", "-", "delay growth", choices=("constant", "exponential"))
    jitter: str = spec(
        "full",
        "-",
        "randomisation of each delay",
        choices=("none", "full", "equal", "decorrelated"),
    )
    first_delay: float = spec(
        0.0, "s", "wait before the first attempt after a drop (websockets: immediate)", lo=0.0
    )
    base: float = spec(0.5, "s", "base delay", lo=0.0)
    factor: float = spec(2.0, "x", "growth per attempt (exponential)", lo=1.0)
    cap: float = spec(10.0, "s", "maximum delay", lo=0.0, inf="no cap")
    max_attempts: int = spec(
        10, "count", "attempts before giving up with network_timeout", lo=1, hi=1_000_000
    )
    deadline: float = spec(
        60.0,
        "s",
        "give up if the next attempt would start later than this after detection",
        lo=0.0,
        lo_open=True,
        inf="no deadline",
    )

    def __post_init__(self):
        validate(self)


@dataclass(frozen=True)
class Client:
    """The receiving client: acks, heartbeat, reconnect and resume."""

    # Protocol timers tick at most every millisecond (MIN_PERIOD): real clients ack and ping every
    # 0.1 to 30 s, and each tick is simulated, so a 1 ns period would mean 10^9 events a second.
    ack_interval: float = spec(
        1.0, "s", "period of cumulative acks (SignalR: about 1 s)", lo=MIN_PERIOD, inf="no acks"
    )
    ping_interval: float = spec(
        20.0,
        "s",
        "heartbeat ping period (python websockets: 20 s)",
        lo=MIN_PERIOD,
        inf="no heartbeat",
    )
    ping_timeout: float = spec(
        20.0,
        "s",
        "declare the connection dead if a pong is this late (websockets: 20 s)",
        lo=0.0,
        lo_open=True,
    )
    heartbeat_stretch_max: float = spec(
        1.0,
        "x",
        "adaptive heartbeat: slow pongs stretch the timeout up to this multiple of ping_timeout "
        "(1 = fixed)",
        lo=1.0,
    )
    close_timeout: float = spec(
        10.0,
        "s",
        "after a heartbeat timeout, wait at most this long for the server to close the connection "
        "(websockets: 10 s)",
        lo=0.0,
    )
    connect_timeout: float = spec(
        4.0,
        "s",
        "give up one connection attempt after this (reconnecting-websocket: 4 s)",
        lo=0.0,
        lo_open=True,
    )
    handshake_rtts: int = spec(
        2, "count", "round trips to open a connection (TCP + WebSocket upgrade)", lo=1, hi=10
    )
    auth_failure_prob: float = spec(
        0.0,
        "prob",
        "chance a reconnect's auth check fails (expired token; not retryable)",
        lo=0.0,
        hi=1.0,
    )
    strategy: str = spec(
        "resume",
        "-",
        "after a reconnect: resume from the last frame, or restart from scratch",
        choices=values(Strategy),
    )
    backoff: Backoff = Backoff()

    def __post_init__(self):
        validate(self)


@dataclass(frozen=True)
class Server:
    """The producing server: generation and the per-stream replay buffer."""

    gap: Dist = Dist("constant", 0.02)
    buffer_bytes: int = spec(
        100_000, "B", "replay-buffer capacity per stream (SignalR default 100,000)", lo=1
    )
    when_full: str = spec(
        "block",
        "-",
        "full buffer: block generation (SignalR) or evict the oldest frames",
        choices=values(WhenFull),
    )
    retention: float = spec(
        120.0,
        "s",
        "keep a disconnected stream's buffer this long (Socket.IO: 120 s)",
        lo=0.0,
        inf="never freed",
    )
    replay_from: str = spec(
        "client",
        "-",
        "replay from the client's position, or from the last ack (duplicates dropped by the "
        "client)",
        choices=values(ReplayFrom),
    )
    processing: float = spec(
        0.0,
        "s",
        "time the server takes to answer each handshake round trip, request and ping (framework "
        "and application work; 0 = instant)",
        lo=0.0,
    )

    def __post_init__(self):
        validate(self)


@dataclass(frozen=True)
class Content:
    """What the server streams: the kind and its size.

    text: token-like chunks; json: one JSON document cut into chunks; multipart: `components`
    independent parts interleaved frame by frame; large: a big body in `frame_bytes` frames.
    """

    kind: str = spec("text", "-", "content kind", choices=("text", "json", "multipart", "large"))
    frames: int = spec(1000, "count", "frames in the response", lo=1, hi=10_000_000)
    # Per-frame sizes stop at MAX_FRAME_BYTES (1 GB, far above any WebSocket server's message
    # limit) so a response of 10^7 frames still counts its bytes exactly in 64-bit integers.
    chunk_bytes: float = spec(
        16.0,
        "B",
        "text, json, multipart: mean payload per frame (a few tokens of text)",
        lo=1.0,
        hi=MAX_FRAME_BYTES,
    )
    envelope_bytes: int = spec(
        32,
        "B",
        "per-frame protocol overhead (sequence number, type, checksum)",
        lo=0,
        hi=MAX_FRAME_BYTES,
    )
    components: int = spec(
        4,
        "count",
        "multipart: independent components, each with its own sequence numbers",
        lo=1,
        hi=10_000,
    )
    frame_bytes: int = spec(
        16_384,
        "B",
        "large: payload of every frame (16 KiB x 128 frames = 2 MiB)",
        lo=1,
        hi=MAX_FRAME_BYTES,
    )

    def __post_init__(self):
        validate(self)
        if self.kind == "multipart" and self.components > self.frames:
            raise ConfigError(
                "components",
                self.components,
                f"at most frames ({self.frames}): every component needs a frame",
            )


@dataclass(frozen=True)
class Session:
    """Concurrent streams sharing one client, network path and server: one disconnect hits them all.

    Each stream keeps its own transport connection, so streams do not share bandwidth or
    head-of-line blocking (one WebSocket per stream)."""

    streams: int = spec(
        1, "count", "concurrent streams per session (the unit of replication)", lo=1, hi=10_000
    )
    start_spread: float = spec(
        0.0, "s", "streams start uniformly at random within this window", lo=0.0
    )

    def __post_init__(self):
        validate(self)


@dataclass(frozen=True)
class Slo:
    """Service-level objectives (the seed's targets). Latency targets apply to the `quantile`-th
    quantile; a rate target of 1 is zero tolerance (any violation fails it)."""

    confidence: float = spec(
        0.95,
        "prob",
        "confidence of every verdict (one-sided bounds)",
        lo=0.5,
        hi=1.0,
        lo_open=True,
        hi_open=True,
    )
    quantile: float = spec(
        0.99,
        "prob",
        "quantile the latency and memory targets apply to",
        lo=0.0,
        hi=1.0,
        lo_open=True,
        hi_open=True,
    )
    reconnect_time: float = spec(2.0, "s", "disconnect -> connected again", lo=0.0, lo_open=True)
    resume_time: float = spec(0.5, "s", "connected -> first new frame", lo=0.0, lo_open=True)
    recovery_time: float = spec(
        5.0,
        "s",
        "disconnect -> every frame that existed at the break is held",
        lo=0.0,
        lo_open=True,
    )
    buffer_bytes: float = spec(
        50e6, "B", "replay-buffer memory on the server (peak)", lo=0.0, lo_open=True
    )
    # Rate targets are in (0, 1]: a target of 0 holds whatever happens (no verdict to judge).
    completion_rate: float = spec(
        0.9995,
        "prob",
        "streams that complete (censored ones count as not completed)",
        lo=0.0,
        lo_open=True,
        hi=1.0,
    )
    integrity_rate: float = spec(
        1.0,
        "prob",
        "completed streams delivered intact, with no duplicate",
        lo=0.0,
        lo_open=True,
        hi=1.0,
    )
    recovery_rate: float = spec(
        0.999, "prob", "disconnects that end recovered", lo=0.0, lo_open=True, hi=1.0
    )
    timeout_handling_rate: float = spec(
        1.0,
        "prob",
        "failed streams ending in a typed error with their buffer released",
        lo=0.0,
        lo_open=True,
        hi=1.0,
    )

    def __post_init__(self):
        validate(self)


ENGINES = values(EngineKind)


@dataclass(frozen=True)
class Scenario:
    """Everything one simulated stream needs. `horizon` censors streams still running."""

    name: str = "custom"
    description: str = ""
    content: Content = Content()
    server: Server = Server()
    client: Client = Client()
    link: Link = Link()
    network: Network = Network()
    disconnects: Disconnects = Disconnects()
    session: Session = Session()
    slo: Slo = Slo()
    horizon: float = spec(
        600.0,
        "s",
        "simulated time after which an unfinished stream is censored",
        lo=0.0,
        lo_open=True,
    )
    engine: str = spec(
        "bulk",
        "-",
        "bulk: frames computed in arrays between protocol events (fast); "
        "per_frame: one event per frame per hop (the reference)",
        choices=ENGINES,
    )
    tilt: str = spec(
        "",
        "-",
        "importance sampling: simulate the weather with these settings instead "
        "('path=value;...', weather settings only) and weight each session by its likelihood "
        "ratio (the `weight` column); empty: no tilt",
    )

    def __post_init__(self):
        validate(self)
        if self.tilt:
            from model.importance import check_tilt  # it reads configs: imported on use

            check_tilt(self)


def settings_cache(fn):
    """`fn` of frozen settings, computed once per distinct settings (an LRU cache) and asked again
    and again with the same objects (once a stream), so its last answer is kept for them: hashing a
    settings tree costs more than the lookup."""
    cached, last = functools.lru_cache(maxsize=64)(fn), []

    @functools.wraps(fn)
    def ask(*args):
        if last and len(args) == len(last[0]) and all(a is b for a, b in zip(args, last[0])):
            return last[1]
        answer = cached(*args)
        last[:] = [args, answer]
        return answer

    return ask


# ---------------------------------------------------------------- dotted paths


@dataclass(frozen=True)
class Setting:
    path: str
    value: Any
    unit: str
    doc: str
    allowed: str


def settable_paths(cfg, prefix: str = "") -> Iterator[Setting]:
    """Every leaf field under `cfg` with its value, unit, meaning and allowed values."""
    for f in dataclasses.fields(cfg):
        value, path = getattr(cfg, f.name), f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            yield from settable_paths(value, path + ".")
        elif f.metadata:
            yield Setting(
                path, value, f.metadata["unit"], f.metadata["doc"], allowed_text(f.metadata)
            )


def setting(cfg, path: str):
    """The value at dotted `path` of `cfg`."""
    for name in path.split("."):
        cfg = getattr(cfg, name)
    return cfg


def _parse(text: str, kind: type, path: str, meta: dict):
    if kind is bool:
        low = text.strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise ConfigError(path, text, "true or false")
    if kind in (int, float):
        try:
            value = parse_number(text, inf_ok=bool(meta.get("inf")))
        except ValueError:
            raise ConfigError(path, text, allowed_text(meta)) from None
        if kind is int and value != INF:
            if not value.is_integer():
                raise ConfigError(path, text, "a whole number, " + allowed_text(meta))
            return int(value)
        return value
    return text


def _settable(cfg, name: str) -> bool:
    """A field that `--set` may change: a section or a declared setting (not `name` or
    `description`, which identify a catalogue scenario in provenance)."""
    f = next((f for f in dataclasses.fields(cfg) if f.name == name), None)
    return f is not None and (bool(f.metadata) or dataclasses.is_dataclass(getattr(cfg, name)))


def _replace_tree(cfg, changes: dict):
    """A copy of `cfg` with `changes` ({field: value or nested dict}) applied, each section
    rebuilt once with all its changes, so checks across fields (rto_min <= rto_max) see the final
    values whatever the order of the overrides."""
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    new = {}
    for head, value in changes.items():
        if isinstance(value, dict):
            try:
                new[head] = _replace_tree(getattr(cfg, head), value)
            except ConfigError as e:
                raise e.under(head) from None
        elif isinstance(value, str):
            new[head] = _parse(
                value, field_type(type(cfg), fields[head]), head, fields[head].metadata
            )
        else:
            new[head] = value
    return dataclasses.replace(cfg, **new)  # validates; errors name fields of cfg


def _nest(cfg, path: str, value, tree: dict) -> None:
    """Put `value` at dotted `path` in the change tree, checking the path against `cfg`."""
    *sections, leaf = path.split(".")
    node = cfg
    for name in sections:
        if not _settable(node, name) or not dataclasses.is_dataclass(getattr(node, name)):
            raise UnknownPath(path)
        node, tree = getattr(node, name), tree.setdefault(name, {})
        if not isinstance(tree, dict):
            raise UnknownPath(path)
    if not _settable(node, leaf) or dataclasses.is_dataclass(getattr(node, leaf)):
        raise UnknownPath(path)
    tree[leaf] = value


def override(cfg, path: str, value):
    """A copy of `cfg` with the leaf at dotted `path` set to `value` (text is parsed by field
    type)."""
    tree: dict = {}
    _nest(cfg, path, value, tree)
    return _replace_tree(cfg, tree)


class UnknownPath(ConfigError):
    def __init__(self, path: str):
        ConfigError.__init__(self, path, None, "no such setting")
        self.path = path


def apply_overrides(cfg: Scenario, assignments: list[str] | dict) -> Scenario:
    """Apply `path=value` strings (or a {path: value} dict) together: the result does not depend on
    their order, and a path given twice with different values is refused. Unknown paths name the
    nearest valid ones."""
    items = (
        assignments.items() if isinstance(assignments, dict) else [_split(a) for a in assignments]
    )
    tree: dict = {}
    given: dict = {}
    for path, value in items:
        if given.setdefault(path, value) != value:
            raise ConfigError(path, value, f"also set to {given[path]!r}; give it once")
        try:
            _nest(cfg, path, value, tree)
        except UnknownPath:
            if path in ("name", "description"):
                raise ConfigError(
                    path, value, "not a setting: it comes from the catalogue and names the run"
                ) from None
            valid = [s.path for s in settable_paths(cfg)]
            near = difflib.get_close_matches(path, valid, n=3, cutoff=0.5)
            hint = (
                "did you mean " + ", ".join(near) + "?"
                if near
                else "see `midstream describe SCENARIO`"
            )
            raise ConfigError(path, value, f"unknown setting; {hint}") from None
    return _replace_tree(cfg, tree)


def _split(assignment: str) -> tuple[str, str]:
    path, eq, value = assignment.partition("=")
    if not eq or not path.strip():
        raise ConfigError("--set", assignment, "expected dotted.path=value")
    return path.strip(), value.strip()
