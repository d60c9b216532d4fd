"""The simulations the cases share (each run once), their seeds and sizes (quick, full)."""

from __future__ import annotations

import numpy as np

from model import runner
from model.connection import recovered_arrivals
from model.link import LinkPhysics
from model.network import Weather
from model.simulation import Results, session_record
from model.validation.scenarios import (
    BACKOFF_MEAN_OUTAGE,
    FAST_GAP,
    FAST_LOSS,
    backoff_scenario,
    completion_scenario,
    link_scenario,
)

SEEDS = {
    ("resume", "constant"): 11,
    ("restart", "constant"): 12,
    ("resume", "exponential"): 13,
    ("restart", "exponential"): 14,
    "backoff": 21,
    "ge": 31,
    "rto": 32,
    "fast": 33,
    "wilson": 41,
    "clopper-pearson": 42,
    "sprt": 43,
}
# replications: (quick, full)
SIZES = {
    "completion": (2000, 20000),
    "backoff": (2000, 20000),
    "ge_reps": (40, 200),
    "ge_frames": 5000,
    "rto": (200_000, 2_000_000),
    "fast_reps": (50, 500),
    "fast_frames": 2000,
    "coverage": (100_000, 1_000_000),
    "sprt": (2000, 20000),
}


class Context:
    """Simulations shared by several cases (run once), sizes, and test hooks."""

    def __init__(
        self, quick: bool, expected_overrides: dict | None, workers: int | None, executor="process"
    ):
        self.quick, self.workers, self.executor = quick, workers, executor
        self.overrides = dict(expected_overrides or {})
        self._cache: dict = {}

    def size(self, name: str) -> int:
        s = SIZES[name]
        return s if isinstance(s, int) else s[0 if self.quick else 1]

    def expected(self, case: str, value: float) -> float:
        """The derived value, unless a test substitutes another (to prove wrong values are
        caught)."""
        return float(self.overrides.get(case, value))

    def completion(self, strategy: str, downtime: str) -> Results:
        key = ("completion", strategy, downtime)
        if key not in self._cache:
            cfg = completion_scenario(strategy, downtime)
            self._cache[key] = runner.run(
                cfg,
                self.size("completion"),
                SEEDS[(strategy, downtime)],
                workers=self.workers,
                executor=self.executor,
                progress=False,
            )
        return self._cache[key]

    def backoff(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(outages, attempts, gave_up) of the backoff replications."""
        if "backoff" not in self._cache:
            n = self.size("backoff")
            outages = np.random.default_rng([SEEDS["backoff"], 0]).exponential(
                BACKOFF_MEAN_OUTAGE, n
            )
            attempts, gave_up = np.empty(n, dtype=np.int64), np.empty(n, dtype=bool)
            other = 0  # neither recovered nor network_timeout: the special case does not hold
            for i, o in enumerate(outages):
                (stream,) = session_record(backoff_scenario(float(o)), SEEDS["backoff"], i).streams
                if stream.disconnects != 1:
                    other += 1
                    attempts[i], gave_up[i] = -1, False
                    continue
                (disconnect,) = stream.disconnect_log
                attempts[i] = disconnect.attempts
                gave_up[i] = disconnect.outcome == "network_timeout"
                other += not gave_up[i] and disconnect.outcome != "recovered"
            self._cache["backoff"] = (outages, attempts, gave_up, other)
        return self._cache["backoff"]

    def link_failures(self, key: str, loss: dict, reps: int, frames: int):
        """Per replication, each frame's failed transmissions (decoded from its `arrivals` delay)
        and the delay itself; plus the count of delays that matched no retransmission offset."""
        cache_key = ("link", key, reps, frames)
        if cache_key not in self._cache:
            cfg = link_scenario(loss)
            R, cap = 1.0, cfg.link.rto_max  # R = max(2 * 0.02 + 4 * 0, rto_min = 1) s
            offsets = np.concatenate(
                [[0.0], np.cumsum(np.minimum(R * 2.0 ** np.arange(cfg.link.tcp_retries), cap))]
            )
            out, delays, mismatched = [], [], 0
            for rep in range(reps):
                rng = np.random.default_rng([SEEDS[key], rep])
                physics = LinkPhysics(cfg, Weather(cfg, rng), rng)
                physics.arrivals(
                    np.arange(200) * 1e-3
                )  # warm-up: the loss chain reaches stationarity
                depart = 1.0 + np.arange(frames) * 1e-3
                extra = physics.arrivals(depart) - depart - cfg.link.propagation
                f = np.searchsorted(offsets, extra - 1e-6)
                ok = np.isfinite(extra) & (f < len(offsets))
                mismatched += int((~ok).sum()) + int(
                    (np.abs(offsets[f[ok]] - extra[ok]) > 1e-6).sum()
                )
                out.append(np.where(ok, f, len(offsets)))
                delays.append(extra)
            self._cache[cache_key] = (out, delays, mismatched)
        return self._cache[cache_key]

    def fast_retransmit(self) -> tuple[list, list]:
        """Per replication: the summed delay of the frames whose first transmission was lost (but
        the last 40, which may wait for their RTO), and their count."""
        if "fast" not in self._cache:
            cfg = link_scenario({"model": "bernoulli", "p": FAST_LOSS}, fast_recovery=True)
            frames, sums, counts = SIZES["fast_frames"], [], []
            depart = 1.0 + np.arange(frames) * FAST_GAP
            for rep in range(self.size("fast_reps")):
                rng = np.random.default_rng([SEEDS["fast"], rep])
                physics = LinkPhysics(cfg, Weather(cfg, rng), rng)
                delay = (recovered_arrivals(physics, depart) - depart - cfg.link.propagation)[:-40]
                lost = delay > 1e-9
                sums.append(float(delay[lost].sum()))
                counts.append(int(lost.sum()))
            self._cache["fast"] = (sums, counts)
        return self._cache["fast"]


def completion_times(res: Results):
    s = res.streams
    bad = int((s.outcome != "completed").sum())
    return s.completion_time.to_numpy(dtype=float), bad
