"""Reconnect backoff policies (constant; exponential with no, full, equal or decorrelated jitter).

Formulas follow AWS "Exponential Backoff and Jitter": with v_n = min(cap, base * factor^n),
none: v_n; full: U(0, v_n); equal: v_n/2 + U(0, v_n/2); decorrelated: min(cap, U(base, 3 * prev)).
For `constant`, v_n = min(cap, base).
"""

from __future__ import annotations

import numpy as np

from model.config import Backoff


class BackoffSchedule:
    """Successive delays of one reconnect episode; `next()` is the wait before the next attempt."""

    def __init__(self, cfg: Backoff, rng: np.random.Generator):
        self.cfg, self.rng = cfg, rng
        self.attempt = 0
        self.previous = cfg.base

    def ceiling(self, n: int) -> float:
        c = self.cfg
        return min(c.cap, c.base if c.policy == "constant" else c.base * c.factor**n)

    def next(self) -> float:
        """Wait before attempt `attempt + 1`: `first_delay` for the first, the policy's after."""
        n, self.attempt = self.attempt, self.attempt + 1
        if n == 0:
            return self.cfg.first_delay
        v, jitter = self.ceiling(n - 1), self.cfg.jitter
        if jitter == "none":
            return v
        if jitter == "full":
            return float(self.rng.uniform(0.0, v))
        if jitter == "equal":
            return v / 2 + float(self.rng.uniform(0.0, v / 2))
        self.previous = min(self.cfg.cap, float(self.rng.uniform(self.cfg.base, 3 * self.previous)))
        return self.previous
