"""Acking: a cumulative ack every `ack_interval` while reading a connection, and the ticks the
client may sleep through.

Once the server has put the whole response on the connection (in order, none corrupted), a tick
before the last frame can arrive does nothing but ack. The client sleeps through such ticks and
sends their acks when it next wakes, in order, each with the frames held at its tick and as if
sent at it. Nothing else the client sends, and no frame, leaves between, so the tables are those of
a client woken at every tick, to rounding (a tick's time is summed by the client, not the clock).
"""

from __future__ import annotations

import numpy as np


class AckTicks:
    """One stream's ack ticks on whichever connection it reads."""

    sleeps = True  # False: wake at every tick (the per-frame engine's client always does)

    def __init__(self, cfg, server, sid: int, frames_total: int):
        self.server, self.sid, self.n = server, sid, frames_total
        self.interval, self.horizon = cfg.client.ack_interval, cfg.horizon
        self.propagation = cfg.link.propagation
        self.next = float("inf")  # the next tick not yet acked

    def start(self, now: float) -> None:
        """Reading a connection begins: the first tick is an interval away."""
        self.next = now + self.interval

    def ack(self, conn, have: int, t: float) -> None:
        """A cumulative ack of `have` frames, sent on `conn` at t."""
        self.server.ack_sent(self.sid, conn, have, conn.upstream(t))

    def tick(self, conn, have: int, now: float) -> None:
        """The tick due now, if any: its ack."""
        if now >= self.next:
            self.ack(conn, have, now)
            self.next += self.interval

    def look(self, conn, now: float) -> float:
        """The next tick the client must wake at: the next one, or, once the whole response is on
        `conn`, the first one at which its last frame may have arrived (no later than the last
        tick before the horizon, so a censored stream sends every ack it would have)."""
        if not self.sleeps or conn.PER_FRAME_READS or conn.last_seq < 0 or conn.any_corrupt:
            return self.next
        if not conn.contiguous or conn.last_seq != self.n - 1:  # the server has more to send
            return self.next
        depart = conn.serial_until  # the last frame's departure (committed or held back)
        # a lower bound of the last frame's arrival: exact once it has left (settled by now)
        if depart <= min(now, conn.cut):
            arrival = float(conn.arrive[conn.frames - 1])
        else:
            arrival = depart + self.propagation  # jitter and retransmissions only add to it
        tick = self.next
        while tick < arrival and tick + self.interval < self.horizon:
            tick += self.interval  # by repeated addition, as the ticks are counted
        return tick

    def slept(self, conn, wake: float, have: int, arrived: np.ndarray) -> None:
        """Send the acks of the ticks slept through before `wake`: `have` frames were held before
        the frames that arrived at `arrived` (sorted) were taken in."""
        ticks, tick = [], self.next
        while tick < wake:
            ticks.append(tick)
            tick += self.interval
        if ticks:
            counts = (have + arrived.searchsorted(ticks, "right")).tolist()
            self.server.acks_sent(self.sid, conn, counts, conn.upstream_all(ticks))
            self.next = tick

    def at_or_after(self, t: float) -> float:
        """The first tick at or after t (ticks slept through included)."""
        tick = self.next
        while tick < t:
            tick += self.interval
        return tick
