"""The scenario catalogue: the seed's scenarios as named, documented configurations.

Each scenario is the default configuration (see `config.py` for every default and its source) plus
the overrides listed here, each with the reason for its value. All carry the seed's targets as
their SLOs (`Slo` defaults): reconnect < 2 s, resume < 0.5 s, recovery < 5 s (p99), replay-buffer
memory < 50 MB, completion >= 99.95 %, integrity 100 %, recovery success >= 99.9 %, timeout
handling 100 %.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.config import ConfigError, Scenario, apply_overrides


@dataclass(frozen=True)
class Entry:
    name: str
    summary: str
    overrides: dict  # dotted path -> value
    why: dict  # dotted path -> reason for the value

    def scenario(self) -> Scenario:
        return apply_overrides(
            Scenario(name=self.name, description=self.summary + " " + self.explain()),
            self.overrides,
        )

    def explain(self) -> str:
        return " ".join(
            f"{path}={value}: {self.why[path]}." for path, value in self.overrides.items()
        )


CATALOGUE = [
    Entry(
        "text-interruption",
        "An LLM-style text stream of 1,000 token chunks (about 20 s at 50 frames/s) over an "
        "`unstable` network, cut about once a minute, resumed from the client's last frame.",
        {},
        {},
    ),
    Entry(
        "json-interruption",
        "A progressive JSON document (about 16 KB in 1,000 chunks) cut mid-stream: it must parse, "
        "validate against its schema and equal the original; rare corruption the transport misses "
        "is caught by the per-frame checksum and repaired by resuming.",
        {"content.kind": "json", "link.corruption_rate": 1e-4},
        {
            "content.kind": "progressive JSON",
            "link.corruption_rate": "about one corrupted frame in ten streams, to exercise "
            "detection and repair",
        },
    ),
    Entry(
        "multipart-delivery",
        "A multi-part response: four independent components, each with its own sequence, "
        "interleaved in one stream; each component is tracked, missing ones are named, order is "
        "kept, none delivered twice.",
        {"content.kind": "multipart", "content.components": 4},
        {
            "content.kind": "multi-part response",
            "content.components": "a handful of independent components (text, citations, tool "
            "results, metadata)",
        },
    ),
    Entry(
        "large-response",
        "A 2 MiB response (128 frames of 16 KiB) sent at link speed: resuming costs what was "
        "missing, not the whole response.",
        {
            "content.kind": "large",
            "content.frames": 128,
            "content.frame_bytes": 16384,
            "server.gap.scale": 0.0,
            "server.buffer_bytes": 4_000_000,
            "disconnects.rate_scale": 20.0,
        },
        {
            "content.kind": "large binary-ish body",
            "content.frames": "128 x 16 KiB = 2 MiB",
            "content.frame_bytes": "16 KiB frames",
            "server.gap.scale": "the body exists up front and is sent at link speed (about 1.7 s "
            "at 10 Mbit/s)",
            "server.buffer_bytes": "the whole body fits in the replay buffer",
            "disconnects.rate_scale": "a disconnect every 3 s, so a good share of transfers is cut",
        },
    ),
    Entry(
        "buffer-preservation",
        "Eight streams of one client keep their server buffers through disconnects and "
        "resynchronise on reconnect: the server replays everything unacknowledged and each client "
        "drops what it already has.",
        {"session.streams": 8, "server.replay_from": "ack", "disconnects.rate_scale": 3.0},
        {
            "session.streams": "several streams' buffers at once",
            "server.replay_from": "SignalR-style resync: replay all unacked frames, the client "
            "drops duplicates",
            "disconnects.rate_scale": "a disconnect every 20 s, so most streams are "
            "resynchronised at least once",
        },
    ),
    Entry(
        "timeout-and-retry",
        "Long outages (mean 30 s) against an exponential backoff with equal jitter, at most 6 "
        "attempts within 45 s: some streams give up, and must do so with a typed network_timeout "
        "and freed buffers.",
        {
            "disconnects.outage.scale": 30.0,
            "client.backoff.jitter": "equal",
            "client.backoff.max_attempts": 6,
            "client.backoff.deadline": 45.0,
            "client.backoff.cap": 15.0,
        },
        {
            "disconnects.outage.scale": "outages as long as the retry budget, so give-ups are "
            "common",
            "client.backoff.jitter": "equal jitter keeps a floor under each wait",
            "client.backoff.max_attempts": "the maximum-retry limit under test",
            "client.backoff.deadline": "the overall reconnect deadline under test (counted from "
            "detection, which for a silent outage comes 20-40 s after "
            "the break)",
            "client.backoff.cap": "socket.io-like cap well under the deadline",
        },
    ),
    Entry(
        "concurrent-interruptions",
        "Twenty streams share one client, network path and server: every disconnect hits all of "
        "them, and each must recover on its own.",
        {"session.streams": 20, "session.start_spread": 5.0},
        {
            "session.streams": "many concurrent streams behind one network path",
            "session.start_spread": "requests started over 5 s, so streams are at different "
            "positions when cut",
        },
    ),
    Entry(
        "rapid-reconnection",
        "Server-side drops (deploys, load-balancer idle timeouts) with the network still up: "
        "clean closes and resets with no outage, so recovery should be sub-second.",
        {
            "disconnects.outage.kind": "constant",
            "disconnects.outage.scale": 0.0,
            "disconnects.weight_half_open": 0.0,
            "disconnects.rate_scale": 3.0,
            "slo.recovery_time": 1.0,
        },
        {
            "disconnects.outage.kind": "no outage: only the connection is lost",
            "disconnects.outage.scale": "no outage: only the connection is lost",
            "disconnects.weight_half_open": "drops the server announces (close) or the kernel "
            "reports (reset)",
            "disconnects.rate_scale": "a drop every 20 s: many recoveries per run",
            "slo.recovery_time": "the sub-second recovery target",
        },
    ),
    Entry(
        "buffer-memory-management",
        "Ten streams per session on a flaky network where half the reconnects fail their auth "
        "check (an expired token): those clients never come back, and their buffers must expire "
        "and be freed.",
        {
            "session.streams": 10,
            "client.auth_failure_prob": 0.5,
            "server.retention": 30.0,
            "disconnects.rate_scale": 3.0,
            "horizon": 300.0,
        },
        {
            "session.streams": "several buffers on one server",
            "client.auth_failure_prob": "clients that never come back",
            "server.retention": "a short retention, so expiry happens well inside the horizon",
            "disconnects.rate_scale": "frequent disconnects, so many clients are lost",
            "horizon": "enough for every retention timer to fire",
        },
    ),
    Entry(
        "stress",
        "One hundred concurrent streams on one server, started over 10 s, on an `unstable` "
        "network: the server's replay-buffer memory over time.",
        {"session.streams": 100, "session.start_spread": 10.0},
        {
            "session.streams": "the seed's 100+ concurrent streams",
            "session.start_spread": "requests arriving over 10 s rather than in one instant",
        },
    ),
    Entry(
        "network-degradation",
        "The network starts `stable` and degrades to `unstable` then `poor` during the stream "
        "(mean sojourns of 8 s); the client adapts by stretching its heartbeat tolerance when "
        "pongs come back slowly.",
        {
            "network.initial": "stable",
            "network.stable.mean_sojourn": 8.0,
            "network.stable.to_unstable": 1.0,
            "network.stable.to_poor": 0.0,
            "network.unstable.mean_sojourn": 8.0,
            "network.unstable.to_stable": 0.0,
            "network.unstable.to_poor": 1.0,
            "client.ping_interval": 2.0,
            "client.ping_timeout": 3.0,
            "client.heartbeat_stretch_max": 4.0,
        },
        {
            "network.initial": "a good start",
            "network.stable.mean_sojourn": "degradation begins within seconds",
            "network.stable.to_unstable": "stable worsens to unstable",
            "network.stable.to_poor": "one step at a time",
            "network.unstable.mean_sojourn": "then worsens again",
            "network.unstable.to_stable": "no recovery: this is a degradation",
            "network.unstable.to_poor": "unstable worsens to poor, which stays",
            "client.ping_interval": "an aggressive heartbeat (as mobile SDKs use) for fast "
            "detection",
            "client.ping_timeout": "tight enough that RTO stalls (1 s + 2 s) on a degraded link "
            "can trip it",
            "client.heartbeat_stretch_max": "what adapts: slow pongs stretch the heartbeat "
            "tolerance up to 12 s; in 1,000 streams (seed 1) this "
            "cut spurious loss-driven disconnects from 279 to 227 "
            "while the p99 detection delay rose from 4.2 s to 6.0 "
            "s",
        },
    ),
]

SCENARIOS: dict[str, Scenario] = {e.name: e.scenario() for e in CATALOGUE}
ENTRIES: dict[str, Entry] = {e.name: e for e in CATALOGUE}


def get_scenario(name: str) -> Scenario:
    """The named scenario; an unknown name lists the known ones."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ConfigError("scenario", name, "one of " + ", ".join(sorted(SCENARIOS))) from None
