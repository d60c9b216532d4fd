"""Typed outcomes of the client's steps, and why a connection ended.

A step of the client (reading what arrived, reading a connection until it ends, connecting) says
how it ended with one of these small frozen values; the same values travel as the causes of the
interrupts that stop a reading (a network teardown, a refused resume, a bad frame), so the client
never has to tell an error string from a break by its type.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Break:
    """Why a connection ended, as the client learned it."""

    cause: str        # close | reset | half_open | corruption | loss (a stall, no outage behind it)
    time: float       # when the network event happened (the unanswered ping, for `loss`)
    detected_by: str  # close_frame | reset | heartbeat | checksum


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
    """The stream ends with a typed error (`records.ERRORS`)."""

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
