"""What client, server and network tell each other: request kinds, why a connection ended, and
the typed outcomes of the client's steps.

A step of the client (reading what arrived, reading a connection until it ends, connecting) says
how it ended with one of these small frozen values; the same values travel as the causes of the
interrupts that stop a reading (a network teardown, a refused resume, a bad frame), so the client
never has to tell an error string from a break by its type.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RequestKind(StrEnum):
    """What a client asks the server for on a new connection."""

    NEW = "new"
    RESUME = "resume"  # from the client's position
    RESTART = "restart"  # the whole response again


@dataclass(frozen=True)
class Break:
    """Why a connection ended, as the client learned it."""

    cause: str  # a `records.Cause`
    time: float  # when the network event happened (the unanswered ping, for `loss`)
    detected_by: str  # a `records.DetectedBy`


@dataclass(frozen=True)
class Corrupted:
    """Interrupt cause: a frame whose checksum fails arrives at `at` (the bulk engine knows it when
    the frame is sent, and wakes the reader then)."""

    at: float


@dataclass(frozen=True)
class Continue:
    """Reading goes on: whatever arrived was taken in and nothing went wrong."""


@dataclass(frozen=True)
class Completed:
    """The whole response is in the application buffer."""


@dataclass(frozen=True)
class Failed:
    """The stream ends with a typed error (a `records.ErrorKind`)."""

    error: str


@dataclass(frozen=True)
class Broke:
    """The connection broke: reconnect and resume."""

    brk: Break


@dataclass(frozen=True)
class Connected:
    """A connection is established (and authorised, on a reconnect)."""

    conn: object


CONTINUE, COMPLETED = Continue(), Completed()
