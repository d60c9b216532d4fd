"""The client's bookkeeping while it runs: its state log, its stream's health, its disconnects.

These are mutable and live only during the run; `Disconnect.record` hands a finished disconnect
over as a frozen `records.DisconnectRecord`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from model.records import RECOVERED, DisconnectRecord, State


class StateLog:
    """The connection state machine's transitions, each with its time (never going back)."""

    def __init__(self, env, start: float):
        self.env = env
        self.entries: list[tuple[float, State]] = [(start, State.CONNECTING)]

    @property
    def current(self) -> State:
        return self.entries[-1][1]

    def set(self, state: State, at: float | None = None) -> None:
        at = self.env.now if at is None else at
        if self.entries[-1][1] != state:
            self.entries.append((max(at, self.entries[-1][0]), state))


@dataclass
class StreamHealth:
    have: int = 0  # contiguous frames in the application buffer
    digests: list = field(default_factory=list)  # arrays of delivered digests, in order
    seqs: list = field(default_factory=list)  # arrays of delivered frame numbers, in order
    duplicates_received: int = 0
    gaps: int = 0
    corrupt_detected: int = 0  # frames whose checksum failed (never delivered; each one a break)
    completed_at: float = math.nan


@dataclass
class Disconnect:
    """One disconnect while it is being handled (filled in as the reconnect and resume proceed)."""

    index: int
    cause: str
    detected_by: str
    time: float
    detected_at: float
    generated_at_break: int  # frames the server had generated when the break happened
    outage_left: float  # how long the network stayed unreachable after the break (0: it was up)
    connected_at: float = math.nan
    resumed_at: float = math.nan
    recovered_at: float = math.nan
    attempts: int = 0
    backoff_wait: float = 0.0
    bytes_replayed: int = 0
    bytes_missing: int = 0
    outcome: str = ""  # set when the stream ends: recovered, or its error / outcome

    def record(self, stream: int, stream_outcome: str) -> DisconnectRecord:
        """The frozen record; a disconnect still open (the stream was censored) takes the stream's
        outcome unless it had recovered."""
        recovered = math.isfinite(self.recovered_at)
        outcome = self.outcome or (RECOVERED if recovered else stream_outcome)
        return DisconnectRecord(
            stream=stream,
            index=self.index,
            cause=str(self.cause),
            detected_by=str(self.detected_by),
            time=self.time,
            detected_at=self.detected_at,
            generated_at_break=self.generated_at_break,
            outage_left=self.outage_left,
            connected_at=self.connected_at,
            resumed_at=self.resumed_at,
            recovered_at=self.recovered_at,
            attempts=self.attempts,
            backoff_wait=self.backoff_wait,
            bytes_replayed=self.bytes_replayed,
            bytes_missing=self.bytes_missing,
            outcome=str(outcome),
        )
