"""The heartbeat: pings, their pongs, an adaptive tolerance, and naming a timeout's cause.

Assumptions (README "Model assumptions"): a ping leaves every `ping_interval`; its pong queues
behind the data already sent, so a long TCP stall delays it like an outage does. A pong later than
the tolerance (`ping_timeout`, stretched up to `heartbeat_stretch_max` times on slow pongs) declares
the connection dead. The timeout is blamed on the latest outage overlapping the ping, or on loss.
A client that gives up fails the connection as RFC 6455 7.1.7 and python websockets do: it sends a
close frame and waits, deaf to any data, for the server to close the TCP connection, at most
`close_timeout`. The close frame travels behind the unanswered ping (TCP keeps order), so after a
black-hole it gets through with the ping's first retransmission after the outage; the server's
close comes back behind the data it had sent. The client learns the connection is gone only then,
or sooner if a reset strikes the connection during the wait: the client's next transmission (a
retransmission of its unanswered ping, which the close frame follows) meets the RST, as it would
while streaming. With the ping and the close through, the client sends nothing more and a reset
goes unnoticed until the wait ends.
"""

from __future__ import annotations

import math

from model.config import DisconnectKind
from model.protocol import Break
from model.records import Cause, DetectedBy


class Heartbeat:
    """One stream's heartbeat over whichever connection is current."""

    def __init__(self, cfg, physics, weather):
        self.cfg, self.physics, self.weather = cfg, physics, weather
        self.ping = (None, math.nan, math.inf)  # (connection, sent, arrival) of the latest ping

    def ping_arrival(self, conn, ping_sent: float) -> float:
        """When a ping sent at `ping_sent` reaches the server (in order behind the client's other
        messages); drawn once per ping."""
        if self.ping[:2] != (conn, ping_sent):
            self.ping = (conn, ping_sent, conn.message_arrival(ping_sent))
        return self.ping[2]

    def pong_arrival(self, conn, ping_sent: float) -> float:
        """When the pong to a ping sent at `ping_sent` reaches the client (queued behind data)."""
        ping_arrival = self.ping_arrival(conn, ping_sent)
        if not math.isfinite(ping_arrival):
            return math.inf
        return conn.downstream_control(ping_arrival + self.cfg.server.processing)

    def closed_at(self, conn, now: float, ping_sent: float) -> float:
        """When a client whose heartbeat gave up at `now` learns that `conn` is closed: the
        server's close, answering the client's close frame, arrives; or `close_timeout` passes."""
        deadline = now + self.cfg.client.close_timeout
        if now >= conn.cut:  # already torn down: nothing to wait for
            return now
        ping_arrival = self.ping_arrival(conn, ping_sent)
        # a close frame sent while the ping is unacknowledged follows it as soon as the ping's own
        # retransmission is acknowledged (go-back after the timeout), not on a timer of its own
        close_arrival = ping_arrival if ping_arrival > now else self.physics.transmit(now)
        at_server = close_arrival + self.cfg.server.processing
        closed = deadline if at_server >= deadline else conn.downstream_control(at_server)
        return min(deadline, closed, self.reset_met(now, ping_sent, ping_arrival))

    def reset_met(self, now: float, ping_sent: float, ping_arrival: float) -> float:
        """When the client, failing its connection since `now`, meets the RST of the first reset
        after `now`: at its first retransmission of the ping (sent at `ping_sent`, arriving at
        `ping_arrival`) from the reset on, plus a round trip; inf if the ping is through by
        then."""
        resets = (e.time for e in self.weather.events if e.kind == DisconnectKind.RESET)
        reset = next((t for t in resets if t > now), None)
        if reset is None or reset >= ping_arrival:
            return math.inf
        offsets = self.physics.message_offsets[self.weather.condition_of(ping_sent)]
        for offset in offsets:
            attempt = ping_sent + offset
            if attempt >= ping_arrival:
                return math.inf
            if attempt >= reset:
                return attempt + self.physics.rtt_at(attempt)
        return math.inf

    def adapt_tolerance(self, tolerance: float, pong_delay: float) -> float:
        """Adaptive heartbeat: a slow pong (over half the tolerance) doubles the tolerance, up to
        `heartbeat_stretch_max` x `ping_timeout`; a prompt one (under a quarter) halves it back."""
        c = self.cfg.client
        if pong_delay > tolerance / 2:
            return min(2 * tolerance, c.ping_timeout * c.heartbeat_stretch_max)
        if pong_delay < tolerance / 4:
            return max(tolerance / 2, c.ping_timeout)
        return tolerance

    def timeout_break(self, conn, now: float, sent: float) -> Break:
        """Name the cause of a heartbeat timeout on `conn`: an outage overlapping the ping, or
        loss."""
        previous_ping = sent - self.cfg.client.ping_interval
        for ev in reversed(self.weather.events):  # the latest outage during this connection
            if conn.opened <= ev.time <= now and ev.time + ev.outage > previous_ping:
                return Break(ev.kind, ev.time, DetectedBy.HEARTBEAT)
        return Break(Cause.LOSS, sent, DetectedBy.HEARTBEAT)
