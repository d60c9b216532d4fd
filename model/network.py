"""The network's weather: conditions over time and disconnect events, drawn before the run.

Assumptions (see README "Model assumptions"):
- Conditions follow a continuous-time Markov chain over the named presets.
- Disconnect events form a Poisson process whose rate is the current condition's rate (a
  piecewise-constant rate, so a non-homogeneous Poisson process), plus an optional fixed schedule.
  They are exogenous: they keep arriving while the client is reconnecting (an event during an
  outage extends the time the network is unreachable).
- A random event's outage is drawn from `disconnects.outage`, plus `disconnects.outage_shift`
  with probability `disconnects.outage_mix`, or plus `disconnects.outage_shift2` with probability
  `disconnects.outage_mix2` (one uniform draw per event picks the component; both 0 by default).
  With `disconnects.shift_once` the mixture holds only until the session's shifted outages are in
  (`Disconnects.last_shifted`); the events after that one are drawn afresh, plain, at the rate
  times `disconnects.after_shift_rate` (a tilt's way back to the scenario's own weather).
- Each event makes the network unreachable for its outage: `close` and `reset` also tear down the
  current connection; `half_open` silently black-holes every packet (nothing is torn down; whether
  anyone notices is up to the heartbeat and TCP).
"""

from __future__ import annotations

import bisect
import functools
import math

import numpy as np

from model.config import CONDITIONS, DISCONNECT_KINDS, TEARDOWNS, Scenario
from model.records import NetworkEvent, NetworkRecord, merged_spells


class Weather:
    """Conditions and disconnect events of one stream, fixed before the run starts."""

    def __init__(self, cfg: Scenario, rng: np.random.Generator):
        self.cfg = cfg
        self.cond_start, self.cond_index = self._conditions(cfg, rng)
        self.cond_start_list, self.cond_list = self.cond_start.tolist(), self.cond_index.tolist()
        # the events as three lists in time order (a stream reads a few of a horizon's worth:
        # `events`, their records, are made only when asked for)
        times, kinds, outages = self._events(cfg, rng)
        self.event_times, self.event_kinds = times.tolist(), kinds
        self.event_outages = outages.tolist()
        self.down_start, self.down_end = merged_spells(times, times + outages)
        self.down_start_list, self.down_end_list = self.down_start.tolist(), self.down_end.tolist()
        self.teardowns = [t for t, k in zip(self.event_times, kinds) if k in TEARDOWNS]

    @functools.cached_property
    def events(self) -> list[NetworkEvent]:
        """The disconnect events, in time order."""
        columns = (self.event_times, self.event_kinds, self.event_outages)
        return [NetworkEvent(t, k, o) for t, k, o in zip(*columns)]

    @staticmethod
    def _conditions(cfg: Scenario, rng) -> tuple[np.ndarray, np.ndarray]:
        net, t, state = cfg.network, 0.0, CONDITIONS.index(cfg.network.initial)
        starts, states = [0.0], [state]
        while True:
            cond = net.condition(CONDITIONS[state])
            t += rng.exponential(cond.mean_sojourn) if math.isfinite(cond.mean_sojourn) else np.inf
            if t >= cfg.horizon:
                break
            cdf = _jump_cdf(cond, state)
            if cdf is None:
                break  # nowhere to go: the condition is absorbing
            state = bisect.bisect_right(cdf, rng.random())  # = rng.choice(3, p=...), draw for draw
            starts.append(t)
            states.append(state)
        return np.array(starts), np.array(states)

    def _events(self, cfg: Scenario, rng) -> tuple[np.ndarray, list[str], np.ndarray]:
        """(times, kinds, outages) of the disconnect events, in time order."""
        d = cfg.disconnects
        times, kinds, outages = self._plain_events(cfg, rng, 0.0, d.rate_scale)
        components = d.outage_components()
        if components:  # drawn after the rest: without a mixture the draws are unchanged
            outages, u = np.asarray(outages), rng.random(len(times))
            low, shifts = 0.0, np.zeros(len(times))
            for mix, shift in components:  # component j where u falls in [low_j, low_j + mix_j)
                shifts[(u >= low) & (u < low + mix)] = shift
                low += mix
            if d.shifted_scale > 0 and d.outage.scale > 0:  # a scale family: the draw rescaled
                outages = np.where(
                    shifts > 0, outages * (d.shifted_scale / d.outage.scale), outages
                )
            outages = (outages + shifts).tolist()
        last = d.last_shifted(outages) if d.shift_once else None
        if last is not None:  # the shifted outages are in: the rest drawn plain, at the rate after
            times, kinds, outages = times[: last + 1], kinds[: last + 1], outages[: last + 1]
            after = self._plain_events(cfg, rng, times[-1], d.rate_scale * d.after_shift_rate)
            times, kinds, outages = times + after[0], kinds + after[1], outages + after[2]
        kinds = [DISCONNECT_KINDS[k] for k in kinds]
        times, outages = np.array(times, dtype=float), np.array(outages, dtype=float)
        scheduled = d.scheduled() if d.schedule else []
        if not scheduled:  # the drawn events are in time order already
            return times, kinds, outages
        at, kind, outage = zip(*scheduled)
        times, outages = np.append(times, at), np.append(outages, outage)
        order = np.argsort(times, kind="stable")  # as `sorted` by time: ties keep their order
        kinds = [*kinds, *kind]
        return times[order], [kinds[i] for i in order.tolist()], outages[order]

    def _plain_events(self, cfg: Scenario, rng, start: float, rate_scale: float) -> tuple:
        """(times, kinds, outages) as lists, in time order, of the Poisson events after `start`:
        the conditions' rates times `rate_scale`, each with its kind and a plain outage."""
        ends = [*self.cond_start_list[1:], cfg.horizon]
        times = []
        for a, b, state in zip(self.cond_start_list, ends, self.cond_list):
            a = max(a, start)
            if b <= a:
                continue
            rate = cfg.network.condition(CONDITIONS[state]).disconnect_rate * rate_scale
            count = rng.poisson(rate * (b - a)) if rate > 0 else 0
            if count:  # (no draw for none)
                times.extend(sorted(rng.uniform(a, b, count).tolist()))
        kinds = _kind_cdf(cfg.disconnects.kind_probabilities()).searchsorted(
            rng.random(len(times)), side="right"
        )  # = rng.choice(3, p=...)
        return times, kinds.tolist(), cfg.disconnects.outage.sample(rng, len(times)).tolist()

    def record(self) -> NetworkRecord:
        """The weather as a record: its events and condition changes."""
        return NetworkRecord(tuple(self.events), self.cond_start, self.cond_index)

    def condition_at(self, t: np.ndarray) -> np.ndarray:
        """Index into CONDITIONS of the condition in force at each time of t."""
        return self.cond_index[self.cond_start.searchsorted(t, "right") - 1]

    def condition_of(self, t: float) -> int:
        """`condition_at` for one time (a plain search: called for every small message)."""
        if len(self.cond_list) == 1:  # a steady network (the common case): no search
            return self.cond_list[0]
        return self.cond_list[bisect.bisect_right(self.cond_start_list, t) - 1]

    def _outage_end(self, t):
        """End of the outage containing t, or -inf where the network is up."""
        if not len(self.down_start):
            return np.full(np.shape(t), -np.inf)
        i = self.down_start.searchsorted(t, "right") - 1
        end = self.down_end[np.maximum(i, 0)]
        return np.where((i >= 0) & (t < end), end, -np.inf)

    def unreachable(self, t: np.ndarray) -> np.ndarray:
        """True where the times t fall inside an outage (any kind): packets there are dropped."""
        if not len(self.down_start):
            return np.zeros(np.shape(t), dtype=bool)
        i = self.down_start.searchsorted(t, "right") - 1
        return (t < self.down_end[i]) & (i >= 0)  # i = -1: before every outage

    def unreachable_at(self, t: float) -> bool:
        """`unreachable` for one time: a plain search over the (few) outages."""
        i = bisect.bisect_right(self.down_start_list, t) - 1
        return i >= 0 and t < self.down_end_list[i]

    def reachable_from(self, t):
        """The end of the outage containing t (t itself if the network is up at t)."""
        return np.maximum(self._outage_end(t), t)

    def next_teardown(self, t: float) -> float:
        """When the first close or reset after t happens (inf: none does)."""
        i = bisect.bisect_right(self.teardowns, t)
        return self.teardowns[i] if i < len(self.teardowns) else math.inf

    def up_again(self, t: float) -> float:
        """`reachable_from` for one time: a plain search over the (few) outages."""
        i = bisect.bisect_right(self.down_start_list, t) - 1
        return self.down_end_list[i] if i >= 0 and t < self.down_end_list[i] else t

    def up_throughout(self, t0: float, t1: float) -> bool:
        """True if no outage overlaps [t0, t1]."""
        i = self.down_start.searchsorted(t1, "right")
        return i == 0 or self.down_end[i - 1] <= t0


def _jump_cdf(cond, state: int) -> list[float] | None:
    """The cumulative probabilities of the condition a jump from `state` goes to (None: it has
    none), computed as `Generator.choice` computes them, so a uniform picks what it would."""
    weights = [cond.to_stable, cond.to_unstable, cond.to_poor]
    weights[state] = 0.0
    total = weights[0] + weights[1] + weights[2]
    if total <= 0:
        return None
    p = [w / total for w in weights]
    cum = [p[0], p[0] + p[1], p[0] + p[1] + p[2]]
    return [c / cum[2] for c in cum]


@functools.lru_cache(maxsize=16)
def _kind_cdf(p: tuple[float, float, float]) -> np.ndarray:
    cdf = np.cumsum(p)
    return cdf / cdf[-1]
