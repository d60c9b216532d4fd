"""The client's small messages up a connection (acks, pings, requests): when each arrives.

Assumptions (README "Model assumptions"): they take no bandwidth and are delivered in order; each
sees loss at the condition's long-run rate (`LinkPhysics.transmit`), resent on its own timer, as a
lone segment (tail loss probe first) unless an earlier message is still in flight. The TCP
ACKs of the frames received are no messages here, except where they meet a reset (`tcp_ack_due`).
"""

from __future__ import annotations

import bisect
import math

from model.timers import DELAYED_ACK


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
        return self._behind(t, self.arrivals[k - 1] if k else self.opened)

    def _behind(self, t: float, ahead: float) -> float:
        """Arrival of a message sent at t behind one arriving at `ahead`."""
        return self._in_order([t], ahead)[0]

    def _in_order(self, times: list[float], ahead: float) -> list[float]:
        """Arrivals of messages sent at `times` (increasing), each behind the one before, the first
        behind one arriving at `ahead`: each is `LinkPhysics.transmit`ted (a lone segment unless
        the one ahead is still in flight an RTT after it leaves), with its draws and arithmetic.
        Acks come in batches: what `transmit` looks up per message is looked up once here."""
        physics = self.physics
        condition_of, draw = physics.weather.condition_of, physics.message_draw
        rtt, propagation = physics.rtt, physics.cfg.link.propagation
        lone_offsets, queued_offsets = physics.message_offsets, physics.offset_lists
        arrivals = []
        for t in times:
            c = condition_of(t)
            failures, jitter = draw(c)  # one draw per message, in order, as `transmit`
            offsets = lone_offsets[c] if ahead <= t + rtt[c] else queued_offsets[c]
            ahead = max(physics.first_sent(t, failures, offsets) + propagation + jitter, ahead)
            arrivals.append(ahead)
        return arrivals

    def send(self, t: float) -> float:
        """Record a message sent at t; its arrival."""
        arrival = self.arrival(t)
        self.sent.append(t)
        self.arrivals.append(arrival)
        return arrival

    def send_all(self, times: list[float]) -> list[float]:
        """`send` of messages sent at `times` (increasing), in order."""
        sent, arrivals = self.sent, self.arrivals
        if sent and times[0] < sent[-1]:
            return [self.send(t) for t in times]
        new = self._in_order(times, arrivals[-1] if arrivals else self.opened)  # no search
        sent += times
        arrivals += new
        return new


def tcp_ack_due(conn, t: float) -> float:
    """When the client's TCP next acknowledges the frames that reached it on `conn` by t, if that
    is after t, else inf. Linux acknowledges every second segment at once and a lone one after the
    delayed-ACK timer: with an odd number arrived, the last awaits it."""
    k = conn.delivered_until(t)
    due = float(conn.arrive[k - 1]) + DELAYED_ACK if k % 2 else math.inf
    return due if due > t else math.inf
