"""Presets: what real streaming stacks do by default, as named overlays of dotted settings.

A preset is a list of `path=value` settings, each with the documentation or source it comes from,
applied on top of a scenario before any `--set` (so `--set` can still change one of them). Presets
set only the client's and the server's behaviour (heartbeat, backoff, resume, replay buffer), never
the network, the content or the SLOs: the scenario says what happens to the stream, the preset says
how the stack copes.

Where the model cannot say exactly what a stack does, a value is the nearest setting and its `note`
says how it differs. Values checked against the sources named (documentation pages or the library's
source at the version given) and the team's REFERENCES.md (real defaults).

"No heartbeat" and "unlimited retries" are expressed as numbers beyond any run: a ping every
1,000,000 s, 1,000,000 attempts and an infinite deadline (the model's settings are finite numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

from model.config import ConfigError, Scenario, apply_overrides

NEVER = "1e6"  # seconds: a period longer than any horizon ("no pings", "no acks")
UNLIMITED = "1000000"  # attempts: "retry forever"


@dataclass(frozen=True)
class Value:
    """One setting of a preset: its dotted path, its value (as `--set` takes it), where the value
    comes from, and how the model's setting differs from the real behaviour (if it does)."""

    path: str
    value: str
    source: str
    note: str = ""


@dataclass(frozen=True)
class Preset:
    name: str
    system: str
    version: str
    summary: str
    values: tuple[Value, ...]
    notes: tuple[str, ...] = ()

    def assignments(self) -> list[str]:
        """The preset as `--set` assignments, in order."""
        return [f"{v.path}={v.value}" for v in self.values]

    def apply(self, cfg: Scenario) -> Scenario:
        return apply_overrides(cfg, self.assignments())

    def value_of(self, path: str) -> Value | None:
        return next((v for v in self.values if v.path == path), None)


SIGNALR_DOCS = "learn.microsoft.com/aspnet/core/signalr/configuration"
SIGNALR_JS = "@microsoft/signalr 8.0 (DefaultReconnectPolicy.ts, HubConnection.ts)"
SOCKETIO_SERVER = "socket.io 4.7 docs: server options / connection state recovery"
SOCKETIO_CLIENT = "socket.io-client 4.7 docs: Manager options"
WEBSOCKETS_SRC = "websockets 14 source: asyncio/client.py (connect, backoff)"
WEBSOCKETS_DOCS = "websockets 14 docs: Keepalive and latency; connect() parameters"
SSE_SPEC = "WHATWG HTML Living Standard, 9.2 Server-sent events"
CHROMIUM_SSE = "Chromium event_source.cc (kDefaultReconnectDelay = 3000 ms)"
GRAPHQL_WS = "graphql-ws 5.16 source: client.ts (createClient options)"

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "signalr",
            "ASP.NET Core SignalR with stateful reconnect",
            ".NET 8 server, @microsoft/signalr 8 client",
            "100,000 B of unacked messages per connection, sender blocks when full; keep-alive "
            "15 s, server timeout 30 s; reconnect delays 0, 2, 10, 30 s then stop",
            (
                Value(
                    "server.buffer_bytes",
                    "100000",
                    "HubOptions.StatefulReconnectBufferSize, default 100,000 bytes "
                    "(learn.microsoft.com, .NET 8 API reference)",
                ),
                Value(
                    "server.when_full",
                    "block",
                    "IStatefulReconnectOptions.bufferSize: bytes buffered 'until applying "
                    "backpressure to sends' (@microsoft/signalr 8)",
                ),
                Value(
                    "server.replay_from",
                    "ack",
                    "stateful reconnect resends every message not yet acked; the receiver drops "
                    "sequence ids it has seen (SignalR hub protocol, Sequence/Ack messages)",
                ),
                Value(
                    "client.ack_interval",
                    "1",
                    "acks are sent about once a second (SignalR MessageBuffer ack timer; "
                    "REFERENCES.md)",
                    "the real ack timer is armed by traffic; the model acks on a fixed period",
                ),
                Value(
                    "client.ping_interval",
                    "15",
                    f"KeepAliveInterval 15 s ({SIGNALR_DOCS})",
                    "SignalR's keep-alive is sent by the server; the model's client pings, and the "
                    "pong's delay plays the keep-alive's",
                ),
                Value(
                    "client.ping_timeout",
                    "22.5",
                    f"ServerTimeout 30 s since the last message received ({SIGNALR_DOCS})",
                    "the model declares the link dead ping_timeout after a ping sent every "
                    "ping_interval, i.e. between 22.5 and 37.5 s after a silent break (mean 30 s, "
                    "as SignalR's 30 s after the last message of a busy stream)",
                ),
                Value(
                    "client.backoff.first_delay",
                    "0",
                    f"withAutomaticReconnect() default delays [0, 2000, 10000, 30000] ms "
                    f"({SIGNALR_JS})",
                ),
                Value("client.backoff.policy", "exponential", f"as above ({SIGNALR_JS})"),
                Value(
                    "client.backoff.base",
                    "2",
                    f"second delay 2 s ({SIGNALR_JS})",
                    "2, 10, 30 s is base 2, factor 5, cap 30: exactly the default delays",
                ),
                Value("client.backoff.factor", "5", f"third delay 10 s = 2 x 5 ({SIGNALR_JS})"),
                Value("client.backoff.cap", "30", f"fourth delay 30 s ({SIGNALR_JS})"),
                Value("client.backoff.jitter", "none", f"fixed delays, no jitter ({SIGNALR_JS})"),
                Value(
                    "client.backoff.max_attempts",
                    "4",
                    f"four delays, then stop: the connection closes ({SIGNALR_JS})",
                ),
                Value(
                    "client.backoff.deadline",
                    "inf",
                    f"no time limit besides the attempt count ({SIGNALR_JS})",
                ),
            ),
            (
                "The server forgets a disconnected connection after a timeout the documentation "
                "does not pin down (REFERENCES.md: about 15 s, uncertain); the scenario's "
                "server.retention is kept.",
            ),
        ),
        Preset(
            "socketio",
            "Socket.IO with connection state recovery",
            "socket.io 4.6+ server, socket.io-client 4.x",
            "packets kept 120 s with no size cap; ping 25 s + 20 s; reconnect after 1 s doubling "
            "to 5 s with +-50 % jitter, forever",
            (
                Value(
                    "server.retention",
                    "120",
                    f"connectionStateRecovery.maxDisconnectionDuration 2 min ({SOCKETIO_SERVER})",
                ),
                Value(
                    "server.buffer_bytes",
                    "1000000000000",
                    f"the recovery store has no size limit, only the time window "
                    f"({SOCKETIO_SERVER})",
                    "no cap written as 1 TB",
                ),
                Value(
                    "server.replay_from",
                    "client",
                    f"the client sends its last offset; the server replays what followed it "
                    f"({SOCKETIO_SERVER})",
                ),
                Value(
                    "client.ping_interval",
                    "25",
                    "pingInterval 25000 ms (socket.io 4 server options)",
                    "Socket.IO's server pings and the client answers; the model's client pings",
                ),
                Value("client.ping_timeout", "20", "pingTimeout 20000 ms (socket.io 4)"),
                Value("client.connect_timeout", "20", f"timeout 20000 ms ({SOCKETIO_CLIENT})"),
                Value(
                    "client.backoff.first_delay",
                    "1",
                    f"reconnectionDelay 1000 ms ({SOCKETIO_CLIENT})",
                    "the real first delay is jittered too (0.5-1.5 s); the model's first delay is "
                    "fixed",
                ),
                Value(
                    "client.backoff.policy", "exponential", f"Backo2 doubling ({SOCKETIO_CLIENT})"
                ),
                Value(
                    "client.backoff.base",
                    "2",
                    f"1 s x 2 for the second attempt ({SOCKETIO_CLIENT})",
                ),
                Value("client.backoff.factor", "2", f"doubling ({SOCKETIO_CLIENT})"),
                Value(
                    "client.backoff.cap", "5", f"reconnectionDelayMax 5000 ms ({SOCKETIO_CLIENT})"
                ),
                Value(
                    "client.backoff.jitter",
                    "equal",
                    f"randomizationFactor 0.5: each delay uniform in [0.5 v, 1.5 v] "
                    f"({SOCKETIO_CLIENT})",
                    "the model's nearest is equal jitter, uniform in [0.5 v, v]: the same "
                    "shortest wait, a mean 25 % shorter",
                ),
                Value(
                    "client.backoff.max_attempts",
                    UNLIMITED,
                    f"reconnectionAttempts Infinity ({SOCKETIO_CLIENT})",
                ),
                Value("client.backoff.deadline", "inf", f"no time limit ({SOCKETIO_CLIENT})"),
            ),
        ),
        Preset(
            "sse",
            "Server-Sent Events (EventSource) with Last-Event-ID",
            "WHATWG HTML (2024), Chromium EventSource",
            "browser retries every 3 s, no jitter, forever; no heartbeat, no acks: a silent "
            "black-hole is found by TCP or never",
            (
                Value(
                    "client.backoff.first_delay",
                    "3",
                    f"reconnection time 3 s ({CHROMIUM_SSE}; Firefox 5 s; {SSE_SPEC}: "
                    f"'a few seconds')",
                ),
                Value(
                    "client.backoff.policy", "constant", f"the same delay every time ({SSE_SPEC})"
                ),
                Value("client.backoff.base", "3", f"as above ({CHROMIUM_SSE})"),
                Value("client.backoff.jitter", "none", f"no randomisation ({SSE_SPEC})"),
                Value(
                    "client.backoff.max_attempts",
                    UNLIMITED,
                    f"EventSource reconnects until closed or given a non-200 answer ({SSE_SPEC})",
                ),
                Value("client.backoff.deadline", "inf", f"no time limit ({SSE_SPEC})"),
                Value(
                    "client.ping_interval",
                    NEVER,
                    f"EventSource has no heartbeat; servers may send comments, the client never "
                    f"checks them ({SSE_SPEC})",
                    "no pings: a ping every 1,000,000 s",
                ),
                Value(
                    "client.ack_interval",
                    NEVER,
                    f"no client-to-server channel: the resume point is the Last-Event-ID header "
                    f"of the next request ({SSE_SPEC})",
                    "no acks: the server keeps what the application keeps (see buffer_bytes)",
                ),
                Value(
                    "server.buffer_bytes",
                    "1000000000000",
                    f"what a server keeps for Last-Event-ID is up to the app ({SSE_SPEC})",
                    "an application that keeps every event of the stream (1 TB: no cap)",
                ),
                Value(
                    "server.replay_from",
                    "client",
                    f"Last-Event-ID names the last event the client received ({SSE_SPEC})",
                ),
            ),
            (
                "How long the server keeps a stream's events is the application's choice; the "
                "scenario's server.retention is kept.",
            ),
        ),
        Preset(
            "websockets",
            "python websockets (asyncio client), resuming by application protocol",
            "websockets 14",
            "ping 20 s + 20 s, close timeout 10 s, open timeout 10 s; reconnect at once after a "
            "drop, then 3.1 s x 1.618 up to 90 s, forever",
            (
                Value("client.ping_interval", "20", f"ping_interval=20 ({WEBSOCKETS_DOCS})"),
                Value("client.ping_timeout", "20", f"ping_timeout=20 ({WEBSOCKETS_DOCS})"),
                Value("client.close_timeout", "10", f"close_timeout=10 ({WEBSOCKETS_DOCS})"),
                Value("client.connect_timeout", "10", f"open_timeout=10 ({WEBSOCKETS_DOCS})"),
                Value(
                    "client.backoff.first_delay",
                    "0",
                    f"`async for ws in connect(...)` reconnects at once after a dropped "
                    f"connection ({WEBSOCKETS_SRC})",
                ),
                Value("client.backoff.policy", "exponential", f"backoff() ({WEBSOCKETS_SRC})"),
                Value(
                    "client.backoff.base",
                    "3.1",
                    f"BACKOFF_MIN_DELAY 3.1 s ({WEBSOCKETS_SRC})",
                    "after a failed attempt websockets first waits U(0, 5) s "
                    "(BACKOFF_INITIAL_DELAY), then 3.1 s, 5.0 s, ...; the model goes straight "
                    "to 3.1 s, 5.0 s, ...",
                ),
                Value("client.backoff.factor", "1.618", f"BACKOFF_FACTOR 1.618 ({WEBSOCKETS_SRC})"),
                Value("client.backoff.cap", "90", f"BACKOFF_MAX_DELAY 90 s ({WEBSOCKETS_SRC})"),
                Value(
                    "client.backoff.jitter", "none", f"no jitter after the first ({WEBSOCKETS_SRC})"
                ),
                Value(
                    "client.backoff.max_attempts",
                    UNLIMITED,
                    f"retries forever on transient errors ({WEBSOCKETS_SRC})",
                ),
                Value("client.backoff.deadline", "inf", f"no time limit ({WEBSOCKETS_SRC})"),
            ),
            (
                "websockets itself keeps nothing across connections: resuming needs an "
                "application protocol, which the scenario's replay buffer stands for.",
            ),
        ),
        Preset(
            "graphql-ws",
            "plain WebSocket with graphql-ws (no resume: the subscription restarts)",
            "graphql-ws 5.16",
            "nothing kept, the operation restarts; 5 retries after 1 s, 2 s, 4 s, ... plus "
            "0.3-3 s random; no keep-alive ping",
            (
                Value(
                    "client.strategy",
                    "restart",
                    f"a new connection re-subscribes from scratch: the protocol has no resume "
                    f"({GRAPHQL_WS}; REFERENCES.md)",
                ),
                Value(
                    "server.retention",
                    "0",
                    "the server drops a closed socket's operations at once (graphql-ws server)",
                ),
                Value(
                    "client.backoff.max_attempts",
                    "5",
                    f"retryAttempts 5 ({GRAPHQL_WS})",
                    "graphql-ws counts retries after the first reconnect attempt; the model "
                    "counts every attempt",
                ),
                Value(
                    "client.backoff.first_delay",
                    "2.65",
                    f"retryWait: 1 s x 2^retries + U(0.3, 3) s ({GRAPHQL_WS})",
                    "the first wait 1 s + U(0.3, 3) s becomes its mean, a fixed 2.65 s",
                ),
                Value("client.backoff.policy", "exponential", f"doubling ({GRAPHQL_WS})"),
                Value("client.backoff.base", "2", f"second wait 2 s + U(0.3, 3) s ({GRAPHQL_WS})"),
                Value("client.backoff.factor", "2", f"doubling ({GRAPHQL_WS})"),
                Value("client.backoff.cap", "16", f"no cap; 5 retries reach 16 s ({GRAPHQL_WS})"),
                Value(
                    "client.backoff.jitter",
                    "equal",
                    f"a random 0.3-3 s added to each wait ({GRAPHQL_WS})",
                    "the model has no additive jitter; equal jitter (v/2 + U(0, v/2)) is the "
                    "nearest randomised wait",
                ),
                Value(
                    "client.ping_interval",
                    NEVER,
                    f"keepAlive 0: no client ping by default ({GRAPHQL_WS})",
                    "no pings: a ping every 1,000,000 s",
                ),
                Value("client.backoff.deadline", "inf", f"no time limit ({GRAPHQL_WS})"),
            ),
        ),
    )
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError("--preset", name, "one of " + ", ".join(PRESETS)) from None


def with_preset(preset: str | None, overrides: list[str] | dict) -> list[str]:
    """The assignments a command applies: the preset's (if any) first, then `overrides`; a path
    given in `overrides` replaces the preset's value (apply_overrides refuses a path twice)."""
    extra = (
        [f"{k}={v}" for k, v in overrides.items()]
        if isinstance(overrides, dict)
        else list(overrides)
    )
    mine = {a.partition("=")[0].strip() for a in extra}
    base = get_preset(preset).assignments() if preset else []
    return [a for a in base if a.partition("=")[0].strip() not in mine] + extra
