"""What a simulation hands to analysis: frozen records, and the one schema of the tables.

The engine (client, server, link, network, simulation) keeps live, mutable objects while it runs;
when a stream is over it hands out records built here, and nothing else: tables, estimates,
figures and the report read records or tables, never engine objects.

- `DisconnectRecord`: one disconnect (one row of the disconnect table).
- `StreamRecord`: one stream (one row of the stream table) with its disconnects and state log.
- `StreamTimeline`: a stream record plus what its figures draw: generation and arrival times of its
  frames, the network's outages and conditions.
- `SessionRecord`: the stream records of one session and the server's replay-buffer memory trace.

`STREAM_SCHEMA` and `DISCONNECT_SCHEMA` declare every column once (name, dtype, unit, meaning);
`Schema.table` builds a typed DataFrame from records, so an empty table has the same dtypes as a
full one. The README's column reference is generated from them (`python -m model.records`).
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from model.config import values


# The tables' fixed vocabularies. The engine uses the members; records and tables hold the plain
# strings (`str(member)`), so a table never depends on the enum classes.
class State(StrEnum):
    """The client's connection state machine."""

    CONNECTING = "connecting"
    STREAMING = "streaming"
    DISCONNECTED = "disconnected"
    BACKING_OFF = "backing_off"
    RESUMING = "resuming"
    COMPLETED = "completed"
    FAILED = "failed"


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    CENSORED = "censored"  # still running at the horizon


class ErrorKind(StrEnum):
    """The typed errors a failed stream ends with."""

    NETWORK_TIMEOUT = "network_timeout"
    AUTH_FAILURE = "auth_failure"
    RESUME_WINDOW_EXCEEDED = "resume_window_exceeded"
    PROTOCOL_ERROR = "protocol_error"


class Cause(StrEnum):
    """Why a connection broke (the network events' kinds, plus what the client finds itself)."""

    CLOSE = "close"
    RESET = "reset"
    HALF_OPEN = "half_open"
    LOSS = "loss"  # a heartbeat timeout with no outage behind it
    CORRUPTION = "corruption"  # a frame's checksum failed


class DetectedBy(StrEnum):
    CLOSE_FRAME = "close_frame"
    RESET = "reset"
    HEARTBEAT = "heartbeat"
    CHECKSUM = "checksum"


RECOVERED = "recovered"  # a disconnect's outcome when the client caught up
STATES = values(State)
ERRORS = values(ErrorKind)
OUTCOMES = values(Outcome)
CONTENT_KINDS = ("text", "json", "multipart", "large")


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class NetworkEvent:
    """A disconnect the weather brings: at `time`, of `kind`, followed by `outage` seconds down."""

    time: float
    kind: str  # close | reset | half_open
    outage: float


@dataclass(frozen=True)
class DisconnectRecord:
    """One disconnect of one stream: the break, its detection, the reconnect and the recovery."""

    stream: int
    index: int
    cause: str  # close | reset | half_open | loss | corruption
    detected_by: str  # close_frame | reset | heartbeat | checksum
    time: float
    detected_at: float
    generated_at_break: int  # frames the server had generated at the break (caught up = all held)
    outage_left: (
        float  # how long the network stayed unreachable after the break: no reconnect sooner
    )
    connected_at: float
    resumed_at: float
    recovered_at: float
    attempts: int
    backoff_wait: float
    bytes_replayed: int
    bytes_missing: int
    outcome: str  # recovered, or the stream's error or censoring

    @property
    def detection_delay(self) -> float:
        return self.detected_at - self.time

    @property
    def reconnect_time(self) -> float:
        return self.connected_at - self.time

    @property
    def resume_time(self) -> float:
        return self.resumed_at - self.connected_at

    @property
    def recovery_time(self) -> float:
        return self.recovered_at - self.time


def time_in_states(log: Iterable[tuple[float, str]], end: float) -> dict[str, float]:
    """Seconds spent in each connection state of a state log, from its first entry up to `end`."""
    log = list(log)
    spent = dict.fromkeys(STATES, 0.0)
    for (t0, state), (t1, _) in zip(log, log[1:] + [(end, "")]):
        spent[state] += max(0.0, min(t1, end) - t0)
    return spent


@dataclass(frozen=True)
class StreamRecord:
    """One stream as the stream table shows it, with its disconnects and its state log."""

    content_kind: str  # which integrity checks it carries (`integrity`)
    stream: int
    session: int
    start_time: float
    outcome: str
    error: str
    end_time: float
    completion_time: float
    frames_total: int
    frames_delivered: int
    bytes_delivered: int
    integrity: Mapping[str, Any]  # `integrity_ok` and the content kind's own checks
    duplicates_received: int
    duplicates_delivered: int
    corrupt_detected: int
    gaps: int
    outages_while_streaming: int
    stalls_absorbed: int
    buffer_peak_bytes: int
    buffer_bytes_at_horizon: int
    buffer_freed_at: float
    buffer_released_by: float
    session_buffer_peak_bytes: int
    log: tuple[tuple[float, str], ...]  # (time, state) of every transition
    disconnect_log: tuple[DisconnectRecord, ...]
    weight: float = 1.0  # importance-sampling weight of the session (1 without a tilt)

    @property
    def integrity_ok(self) -> bool:
        return self.integrity["integrity_ok"]

    @property
    def disconnects(self) -> int:
        return len(self.disconnect_log)

    @property
    def reconnect_attempts(self) -> int:
        return sum(d.attempts for d in self.disconnect_log)

    @property
    def bytes_replayed(self) -> int:
        return sum(d.bytes_replayed for d in self.disconnect_log)

    @property
    def bytes_missing(self) -> int:
        return sum(d.bytes_missing for d in self.disconnect_log)

    @functools.cached_property
    def time_in_states(self) -> dict[str, float]:
        return time_in_states(self.log, self.end_time)


@dataclass(frozen=True)
class Arrivals:
    """Frames that reached the client on the connections of the stream's last generation
    (replayed duplicates included), by arrival: time, frame number, connection (0, 1, ...)."""

    times: np.ndarray
    seqs: np.ndarray
    connection: np.ndarray


def merged_spells(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of [start, end) intervals given in order of start, as sorted, disjoint start and
    end arrays, empty ones dropped: the spells the network is unreachable, overlapping (or
    touching) outages merged. An interval starting at or before the furthest end so far joins its
    spell."""
    keep = ends > starts
    if not keep.all():
        starts, ends = starts[keep], ends[keep]
    if not len(starts):
        return starts, ends
    reach = np.maximum.accumulate(ends)
    new = np.empty(len(starts), dtype=bool)  # where a spell begins
    new[0] = True
    np.greater(starts[1:], reach[:-1], out=new[1:])
    first = np.flatnonzero(new)
    last = np.empty_like(first)  # its last interval: the one before the next spell's first
    last[:-1], last[-1] = first[1:] - 1, len(starts) - 1
    return starts[first], reach[last]


@dataclass(frozen=True)
class NetworkRecord:
    """The weather a stream saw: disconnect events and the condition changes (index into
    `config.CONDITIONS` from each start time on)."""

    events: tuple[NetworkEvent, ...]
    condition_start: np.ndarray
    condition_index: np.ndarray

    def outage_spells(self, end: float = math.inf) -> list[tuple[float, float]]:
        """The spells the network is unreachable, from the events at or before `end`."""
        kept = [e for e in self.events if e.time <= end]
        times = np.array([e.time for e in kept], dtype=float)
        outages = np.array([e.outage for e in kept], dtype=float)
        order = np.argsort(times, kind="stable")
        starts, ends = merged_spells(times[order], (times + outages)[order])
        return list(zip(starts.tolist(), ends.tolist()))

    def condition_at(self, t: np.ndarray) -> np.ndarray:
        """Index of the condition in force at each time of t."""
        return self.condition_index[np.searchsorted(self.condition_start, t, side="right") - 1]


@dataclass(frozen=True)
class StreamTimeline:
    """A stream and what happened over its time: what its figures draw."""

    record: StreamRecord
    generated: np.ndarray  # generation time of each frame of the last generation made so far
    arrivals: Arrivals
    network: NetworkRecord

    @property
    def stream(self) -> int:
        return self.record.stream


@dataclass(frozen=True)
class BufferTrace:
    """Replay-buffer bytes just before and just after every server event, and at the horizon:
    exact, since between events the buffer only grows, so its maximum is reached just before an
    event or at the horizon (generation may go on after the last event)."""

    times: list = field(default_factory=list)
    bytes: list = field(default_factory=list)

    @functools.cached_property  # every stream of a session asks for its server's peak
    def peak(self) -> int:
        return max(self.bytes, default=0)


@dataclass(frozen=True)
class SessionRecord:
    """One session: its streams and the server's replay-buffer memory (all its buffers together)."""

    session: int
    streams: tuple[StreamRecord, ...]
    memory: BufferTrace


# ---------------------------------------------------------------- the schema


@dataclass(frozen=True)
class Column:
    """One table column: its name, dtype, unit and meaning; `kinds`: the content kinds that have
    it (empty: every kind); `get`: how a record gives its value (default: the attribute `name`)."""

    name: str
    dtype: str  # int64 | float64 | bool | str
    unit: str
    description: str
    kinds: tuple[str, ...] = ()
    get: Callable[[Any], Any] | None = None

    @functools.cached_property
    def getter(self) -> Callable[[Any], Any]:
        return self.get if self.get is not None else operator.attrgetter(self.name)

    def value(self, record) -> Any:
        return self.getter(record)


def _column(values: list, dtype: str):
    """A column's values as an array of its dtype. Strings are left to pandas' inference (its
    string dtype, whichever the pandas version), which an empty column is given explicitly."""
    if dtype != "str":
        return np.array(values, dtype=dtype)
    return values if values else pd.Series(values, dtype=str)


@dataclass(frozen=True)
class Schema:
    """The columns of one table, in order."""

    name: str
    columns: tuple[Column, ...]

    def for_kind(self, kind: str | None = None) -> tuple[Column, ...]:
        """The columns a table of content `kind` has (None: every column of every kind)."""
        return tuple(c for c in self.columns if kind is None or not c.kinds or kind in c.kinds)

    def names(self, kind: str | None = None) -> list[str]:
        return [c.name for c in self.for_kind(kind)]

    def row(self, record, kind: str | None = None) -> dict[str, Any]:
        """One record as {column: value} (only the columns its kind has)."""
        kind = kind if kind is not None else getattr(record, "content_kind", None)
        return {c.name: c.value(record) for c in self.for_kind(kind)}

    def table(self, records: Iterable, kind: str | None = None) -> pd.DataFrame:
        """A typed DataFrame, one row per record, the columns of content `kind`."""
        records = list(records)
        return pd.DataFrame(
            {c.name: _column(list(map(c.getter, records)), c.dtype) for c in self.for_kind(kind)}
        )


def _integrity(name: str, dtype: str, description: str, kinds: tuple[str, ...] = ()) -> Column:
    return Column(name, dtype, "", description, kinds, get=lambda record: record.integrity[name])


def _time_in(state: str) -> Column:
    return Column(
        f"time_{state}",
        "float64",
        "s",
        f"time spent `{state}` (up to `end_time`)",
        get=lambda record: record.time_in_states[state],
    )


# The schemas are tables, one column per entry: kept as written, not one argument per line.
# fmt: off
INTEGRITY_COLUMNS = (
    _integrity("integrity_ok", "bool", "the stream completed and the response hash of what the "
               "application received equals the server's (plus the kind's own checks)"),
    _integrity("json_valid", "bool", "the reassembled document parses as JSON", ("json",)),
    _integrity("schema_valid", "bool", "the reassembled document validates against its JSON schema",
               ("json",)),
    _integrity("missing_components", "str", "components not completely delivered, e.g. \"2,3\"",
               ("multipart",)),
    _integrity("misordered_components", "str", "components delivered out of their own order",
               ("multipart",)),
    _integrity("component_duplicates", "int64", "component frames delivered more than once",
               ("multipart",)),
)

STREAM_SCHEMA = Schema("stream", (
    Column("stream", "int64", "", "stream number: session x streams per session + member"),
    Column("session", "int64", "", "the session (replication) the stream belongs to"),
    Column("start_time", "float64", "s", "when the stream's first connection attempt starts"),
    Column("outcome", "str", "",
           "completed, failed (see `error`) or censored (still running at the horizon)"),
    Column("error", "str", "",
           "a failed stream's typed error: " + ", ".join(ERRORS) + "; empty otherwise"),
    Column("end_time", "float64", "s",
           "when the stream completed or failed; the horizon if censored"),
    Column("completion_time", "float64", "s", "arrival of the last frame (NaN unless completed)"),
    Column("frames_total", "int64", "frames", "frames in the response"),
    Column("frames_delivered", "int64", "frames",
           "contiguous frames in the application buffer at the end"),
    Column("bytes_delivered", "int64", "bytes", "bytes of those frames"),
    *INTEGRITY_COLUMNS,
    Column("duplicates_received", "int64", "frames",
           "frames received again (dropped by the client)"),
    Column("duplicates_delivered", "int64", "frames",
           "frames delivered twice to the application (must be 0)"),
    Column("corrupt_detected", "int64", "frames", "frames whose checksum failed (never delivered)"),
    Column("gaps", "int64", "count", "sequence gaps seen (each a protocol_error)"),
    Column("disconnects", "int64", "count",
           "disconnects of the stream (its rows in the disconnect table)"),
    Column("outages_while_streaming", "int64", "count",
           "network events that hit a live connection being read, before the last frame"),
    Column("stalls_absorbed", "int64", "count",
           "silent outages the connection survived (no heartbeat timeout)"),
    Column("reconnect_attempts", "int64", "count", "connection attempts over all disconnects"),
    Column("bytes_replayed", "int64", "bytes", "bytes sent again on resumes or restarts"),
    Column("bytes_missing", "int64", "bytes", "of those, bytes the client did not hold"),
    Column("buffer_peak_bytes", "int64", "bytes", "peak of the stream's server replay buffer"),
    Column("buffer_bytes_at_horizon", "int64", "bytes",
           "replay-buffer bytes still held at the horizon"),
    Column("buffer_freed_at", "float64", "s",
           "when the server freed the buffer (NaN: not by the horizon)"),
    Column("buffer_released_by", "float64", "s",
           "when the buffer is or will be freed (the retention expiry after a break; inf while a "
           "live connection holds it)"),
    Column("session_buffer_peak_bytes", "int64", "bytes",
           "peak of the server's replay-buffer memory over all streams of the session"),
    *(_time_in(state) for state in STATES),
    Column("weight", "float64", "",
           "likelihood ratio of the session's weather, scenario over tilted, up to the session's "
           "end (importance sampling, `tilt`); 1 without a tilt"),
))

DISCONNECT_SCHEMA = Schema("disconnect", (
    Column("stream", "int64", "", "the stream cut"),
    Column("index", "int64", "", "the disconnect's number within its stream (0, 1, ...)"),
    Column("cause", "str", "", "close, reset, half_open, corruption, or loss (a heartbeat timeout "
                               "on a link that never went down)"),
    Column("detected_by", "str", "", "close_frame, reset, heartbeat or checksum"),
    Column("time", "float64", "s", "when the break happened"),
    Column("outage_left", "float64", "s",
           "how long the network stayed unreachable after the break (0: it was up); nobody "
           "reconnects sooner, so reconnect_time - outage_left is the protocol's own delay"),
    Column("detected_at", "float64", "s", "when the client noticed it"),
    Column("detection_delay", "float64", "s", "break to detection"),
    Column("connected_at", "float64", "s", "when a new connection was established (NaN: never)"),
    Column("reconnect_time", "float64", "s", "break to connected"),
    Column("resumed_at", "float64", "s", "arrival of the first new frame after reconnecting"),
    Column("resume_time", "float64", "s", "connected to first new frame"),
    Column("recovered_at", "float64", "s",
           "when the client held every frame the server had generated at the break"),
    Column("recovery_time", "float64", "s", "break to recovered"),
    Column("attempts", "int64", "count", "connection attempts"),
    Column("backoff_wait", "float64", "s", "time spent in backoff between attempts"),
    Column("bytes_replayed", "int64", "bytes", "bytes sent again on the resume or restart"),
    Column("bytes_missing", "int64", "bytes", "of those, bytes the client did not hold"),
    Column("outcome", "str", "", "recovered, or the stream's error or censoring"),
))
# fmt: on


def markdown(schema: Schema) -> str:
    """The schema as a Markdown table (the README's column reference)."""
    lines = ["| column | type | unit | meaning |", "| --- | --- | --- | --- |"]
    for c in schema.columns:
        only = f" ({', '.join(c.kinds)} only)" if c.kinds else ""
        lines.append(f"| `{c.name}` | {c.dtype} | {c.unit or '-'} | {c.description}{only} |")
    return "\n".join(lines)


def column_reference() -> str:
    """The README block between the column-reference markers."""
    return (
        f"Stream table (one row per stream):\n\n{markdown(STREAM_SCHEMA)}\n\n"
        f"Disconnect table (one row per disconnect):\n\n{markdown(DISCONNECT_SCHEMA)}"
    )


if __name__ == "__main__":
    print(column_reference())
