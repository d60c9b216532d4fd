"""The client's small messages up a connection (acks, pings, requests): when each arrives.

Assumptions (README "Model assumptions"): they take no bandwidth and are delivered in order; each
sees loss at the condition's long-run rate (`LinkPhysics.transmit`), resent on its own timer, as a
lone segment (tail loss probe first) unless an earlier message is still in flight.
"""

from __future__ import annotations

import bisect


class ClientMessages:
    """The client's small messages up one connection (acks, pings, requests), delivered in order.
    Behind a message still being retransmitted a message is no lone segment: its tail loss probe
    leaves at once (2 SRTT) and the re-armed timer backs off as usual (R, 3R, ... after it)."""

    def __init__(self, physics, opened: float):
        self.physics, self.opened = physics, opened
        self.sent: list[float] = []  # the messages recorded by `send`, and their arrivals
        self.arrivals: list[float] = []  # a running maximum: messages arrive in order

    def arrival(self, t: float) -> float:
        """Arrival of a message sent at t behind the recorded ones sent before it."""
        k = bisect.bisect_right(self.sent, t)
        ahead = self.arrivals[k - 1] if k else self.opened
        lone = ahead <= t + self.physics.rtt_at(t)
        return max(self.physics.transmit(t, lone=lone), ahead)

    def send(self, t: float) -> float:
        """Record a message sent at t; its arrival."""
        arrival = self.arrival(t)
        self.sent.append(t)
        self.arrivals.append(arrival)
        return arrival
