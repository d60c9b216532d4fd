"""How big a run is, estimated from its configuration before any stream is simulated.

Each setting is bounded on its own (`model/fields.py`), but products of valid settings can still
ask for a run that would never end or never fit in memory: a 1 ms ack period over a 10^6 s horizon,
a disconnect rate scaled a millionfold, 10,000 streams per session of 10^7 frames each. `check_run`
refuses those with one line naming the setting that dominates, the estimate and the limit; the
command line's `--no-work-limit` skips it.

The estimate is a worst case, counted per stream as if it lived until the horizon (a censored
stream does): its frames, its ack and ping ticks, the disconnects and condition changes of its
weather, the reconnects after those disconnects and after corrupted frames (100 events each: a
reconnect measured 4.7 ms), and for the json kind its document (built, hashed and parsed byte by
byte: one event per 32 bytes, 32 bytes of memory per byte). A stream of the standard scenario
counts about 4,700 such events and really costs about 2.5 ms; one event of the estimate costs
from 0.2 us (a frame, simulated in arrays) to 20-40 us (an ack or ping tick, a condition change
of a censored stream; measured on a shared 2-core machine), so a session at the limit of 10^6
events takes under a minute. Memory is about 250 bytes per frame of a session held at once
(measured: 220 B) and a few hundred per disconnect.
"""

from __future__ import annotations

import math

from model.config import CONDITIONS, Scenario, setting
from model.fields import ConfigError

MAX_STREAMS = 10_000_000  # rows of the stream table, held in memory (about 1 kB each with pandas)
MAX_SESSION_EVENTS = 1e6  # under a minute of one core for one session, in the worst case
MAX_SESSION_BYTES = 4 * 2**30  # one session's arrays in one worker
MAX_RUN_EVENTS = 2e10  # a day or two of one core if every event were a worst case
BYTES_PER_FRAME = 250
BYTES_PER_DISCONNECT = 400
RECONNECT_EVENTS = 100  # a disconnect the client lives through: measured 4.7 ms of reconnecting
JSON_BYTES_PER_EVENT = 32  # the json kind builds, hashes and parses its document: ~1 us per byte
MEMORY_PER_JSON_BYTE = 32  # measured: 28 B of memory per byte of document
OVERRIDE = "--no-work-limit"


def _per(horizon: float, period: float) -> float:
    return 0.0 if math.isinf(period) else horizon / period


def stream_events(cfg: Scenario) -> dict[str, tuple[str, float]]:
    """The worst-case events of one stream, by kind: {kind: (the setting driving it, count)}."""
    h, net, d = cfg.horizon, cfg.network, cfg.disconnects
    conditions = [net.condition(c) for c in CONDITIONS]
    rate = max(c.disconnect_rate for c in conditions) * d.rate_scale
    shortest = min(c.mean_sojourn for c in conditions)
    return {
        "frames": ("content.frames", float(cfg.content.frames)),
        "ack ticks": ("client.ack_interval", _per(h, cfg.client.ack_interval)),
        "pings": ("client.ping_interval", _per(h, cfg.client.ping_interval)),
        "disconnects": ("disconnects.rate_scale", h * rate + len(d.scheduled())),
        "reconnect events": (
            "disconnects.rate_scale",
            RECONNECT_EVENTS * (h * rate + len(d.scheduled())),
        ),
        "corruption reconnect events": (
            "link.corruption_rate",
            RECONNECT_EVENTS * _corruption_disconnects(cfg),
        ),
        "condition changes": ("network.*.mean_sojourn", _per(h, shortest)),
        "json bytes / 32": ("content.chunk_bytes", _json_bytes(cfg) / JSON_BYTES_PER_EVENT),
    }


def _corruption_disconnects(cfg: Scenario) -> float:
    """Disconnects from corrupted frames: each frame sent is corrupted with probability c, so
    about frames * c / (1 - c) of them before every frame got through, but no more than one per
    reconnect cycle (the handshake's round trips) until the horizon."""
    c = cfg.link.corruption_rate
    if c == 0:
        return 0.0
    by_frames = cfg.content.frames * c / (1 - c)
    cycle = 2 * cfg.link.propagation * cfg.client.handshake_rtts
    return min(by_frames, cfg.horizon / cycle) if cycle > 0 else by_frames


def _json_bytes(cfg: Scenario) -> float:
    """Bytes of the JSON document a json stream builds in memory (other kinds keep only sizes)."""
    return cfg.content.frames * cfg.content.chunk_bytes if cfg.content.kind == "json" else 0.0


def session_size(cfg: Scenario) -> tuple[float, float]:
    """(events, bytes) of one session in the worst case."""
    events = stream_events(cfg)
    n = cfg.session.streams
    per_stream = sum(count for _, count in events.values())
    memory = (
        cfg.content.frames * BYTES_PER_FRAME
        + events["disconnects"][1] * BYTES_PER_DISCONNECT
        + _json_bytes(cfg) * MEMORY_PER_JSON_BYTE
    )
    return n * per_stream, n * memory


def check_run(cfg: Scenario, sessions: int) -> None:
    """Refuse a run of `sessions` sessions of `cfg` beyond the limits, naming the setting that
    dominates its cost (ConfigError)."""
    n = cfg.session.streams
    if sessions * n > MAX_STREAMS:
        raise ConfigError(
            "streams",
            sessions * n,
            f"at most {MAX_STREAMS:,} streams in one run ({sessions:,} sessions x {n:,} streams "
            "each): the stream table is held in memory",
        )
    events, memory = session_size(cfg)
    terms = stream_events(cfg)
    kind, (path, _) = max(terms.items(), key=lambda kv: kv[1][1])
    if events > MAX_SESSION_EVENTS:
        over = f"{events:.3g} events per session (limit {MAX_SESSION_EVENTS:.0e})"
        path = path if events / n > MAX_SESSION_EVENTS else "session.streams"
    elif memory > MAX_SESSION_BYTES:
        over = f"{memory / 2**30:.3g} GiB per session (limit {MAX_SESSION_BYTES / 2**30:g} GiB)"
        path = "content.frames" if memory / n > MAX_SESSION_BYTES else "session.streams"
    elif events * sessions > MAX_RUN_EVENTS:
        over = f"{events * sessions:.3g} events in all (limit {MAX_RUN_EVENTS:.0e})"
        path = "sessions"
    else:
        return
    detail = (
        f"{n:,} stream(s) per session x ("
        + " + ".join(f"{c:.3g} {k}" for k, (_, c) in terms.items() if c)
        + f") over the {cfg.horizon:g} s horizon"
    )
    raise ConfigError(
        path,
        sessions if path == "sessions" else _value(cfg, path),
        f"the run would take {over}, mostly {kind}: {detail}; pass {OVERRIDE} to run it anyway",
    )


def _value(cfg: Scenario, path: str):
    if "*" in path:
        return min(cfg.network.condition(c).mean_sojourn for c in CONDITIONS)
    return setting(cfg, path)
