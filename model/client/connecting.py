"""Connecting: attempts separated by the backoff policy, until connected or giving up.

Assumptions (README "Model assumptions"):
- A connection attempt sends SYNs at 0, R, 3R, ... (R = `link.syn_rto`, doubling) within
  `connect_timeout`; it succeeds if a SYN leaves while the network is reachable and the network
  stays up for the `handshake_rtts` round trips that follow; otherwise it fails after
  `connect_timeout`.
- Attempts stop after `backoff.max_attempts`, or when the next would start past `backoff.deadline`
  after the first: `network_timeout`.
- The reconnect auth check fails with `auth_failure_prob` (not retryable: `auth_failure`).
"""

from __future__ import annotations

from model import clock
from model.backoff import BackoffSchedule
from model.client.progress import Disconnect, StateLog
from model.protocol import Connected, Failed
from model.records import ErrorKind, State


class Connector:
    """Makes one stream's connections; `open_connection()` makes the connection object itself (the
    engine's kind, wired to the reader)."""

    def __init__(self, env, cfg, rng, physics, weather, states: StateLog, open_connection):
        self.env, self.cfg, self.rng = env, cfg, rng
        self.physics, self.weather, self.states = physics, weather, states
        self.open_connection = open_connection

    def connect(self, rec: Disconnect | None):
        """Attempts with backoff (a SimPy process body): Connected, or Failed with the error.
        `rec` is the disconnect being repaired (None for the first connection)."""
        c, env = self.cfg.client, self.env
        backoff = BackoffSchedule(c.backoff, self.rng)
        start = env.now
        while True:
            if backoff.attempt >= c.backoff.max_attempts:
                return Failed(ErrorKind.NETWORK_TIMEOUT)
            wait = backoff.next()
            if env.now + wait - start > c.backoff.deadline:
                return Failed(ErrorKind.NETWORK_TIMEOUT)
            if wait > 0:
                self.states.set(State.BACKING_OFF)
                yield env.timeout(wait)
            self.states.set(State.CONNECTING)
            if rec is not None:
                rec.attempts += 1
                rec.backoff_wait += wait
            established = self.attempt(env.now)
            if established is None:
                yield env.timeout(c.connect_timeout)
                continue
            yield clock.until(env, established)
            if rec is not None and self.rng.random() < c.auth_failure_prob:
                return Failed(ErrorKind.AUTH_FAILURE)
            conn = self.open_connection()
            if rec is not None:
                rec.connected_at = env.now
            return Connected(conn)

    def attempt(self, t: float) -> float | None:
        """Time the connection is established, or None if this attempt fails."""
        c = self.cfg.client
        syn, step = t, self.cfg.link.syn_rto
        while syn < t + c.connect_timeout:
            if not self.weather.unreachable_at(syn):
                done = syn
                processing = self.cfg.server.processing
                for _ in range(c.handshake_rtts):  # each leg can be lost and retransmitted
                    done = self.physics.transmit(done) + processing  # the server answers
                    done = self.physics.transmit(done)
                if done <= t + c.connect_timeout and self.weather.up_throughout(syn, done):
                    return done
                return None
            syn, step = syn + step, step * 2
        return None
