"""Importance sampling on the weather: a tilted weather and each session's exact likelihood ratio.

The weather (condition changes, disconnect events with their kinds and outages) is drawn before a
session runs, from a parametric law, so its density is known in closed form. A scenario with a
`tilt` (`disconnects.rate_scale=8;disconnects.outage.scale=4`, any weather settings) simulates its
sessions under the tilted weather and weights each one by

    L = f_scenario(weather on [0, T]) / f_tilted(weather on [0, T])

where T is the session's end (its last stream completed or failed; the horizon if one is still
running). Everything else a session draws (loss, jitter, content, backoff) has the same law under
both, so it cancels. T is a stopping time of the weather-and-everything-else history (a session
ends because of what happened before, never after), so E_tilted[L g] = E_scenario[g] for any
outcome g fixed by time T (optional stopping of the likelihood-ratio martingale; T <= horizon).

The density of the weather on [0, T] (README "Importance sampling"):
- conditions: a Markov jump process; each sojourn that ended by T contributes q e^(-q s) times the
  jump probability, the last one its survival e^(-q (T - start)) (q = 1/mean_sojourn);
- disconnect events: a Poisson process of piecewise-constant rate lambda(t) (the condition's rate
  times `rate_scale`): the product of lambda(t_k) over events at t_k <= T times
  e^(-integral_0^T lambda); each event's kind (probability) and outage (density) are its marks,
  the outage's density the shifted mixture (1 - sum_j m_j) f(x) + sum_j m_j f(x - shift_j) over
  the components with `outage_mix`/`outage_mix2` m_j > 0 (a defensive mixture: tilted to m_j > 0
  it draws outages past a failure threshold often, one shift per failure mode, and its plain part
  keeps every outage the scenario can draw possible, with weight at most 1/(1 - sum_j m_j) per
  event, so the estimate misses nothing);
- scheduled events are the same under both laws and carry no weight.
The likelihood ratio is computed from the weather record (what was drawn), never from the random
number streams, so it does not depend on how the draws are made.
"""

from __future__ import annotations

import functools
import math
from collections import Counter

import numpy as np

from model.config import CONDITIONS, DISCONNECT_KINDS, Scenario, settings_cache
from model.distributions import Dist
from model.fields import ConfigError
from model.records import NetworkRecord

CONDITION_SETTINGS = ("disconnect_rate", "mean_sojourn", "to_stable", "to_unstable", "to_poor")
DISCONNECT_SETTINGS = (
    "rate_scale",
    "weight_close",
    "weight_reset",
    "weight_half_open",
    "outage_mix",
    "outage_shift",
    "outage_mix2",
    "outage_shift2",
    "shifted_scale",
    "shift_once",
    "after_shift_rate",
)
OUTAGE_SETTINGS = ("outage.kind", "outage.scale", "outage.shape")


def tiltable_paths() -> tuple[str, ...]:
    """The weather settings a tilt may change (the laws whose densities the weight accounts for)."""
    return (
        *(f"network.{c}.{s}" for c in CONDITIONS for s in CONDITION_SETTINGS),
        *(f"disconnects.{s}" for s in DISCONNECT_SETTINGS + OUTAGE_SETTINGS),
    )


def parse_tilt(text: str) -> list[tuple[str, str]]:
    """'path=value;path=value' as (path, value) pairs, each path a tiltable weather setting."""
    pairs = []
    for item in filter(None, (s.strip() for s in text.split(";"))):
        path, eq, value = item.partition("=")
        path, value = path.strip(), value.strip()
        if not eq or not value:
            raise ConfigError("tilt", item, "entries 'path=value' separated by ';'")
        if path not in tiltable_paths():
            raise ConfigError(
                "tilt",
                item,
                "a weather setting: disconnects.rate_scale, disconnects.weight_*, "
                "disconnects.outage.*, disconnects.outage_mix, disconnects.outage_shift, "
                "disconnects.outage_mix2, disconnects.outage_shift2, "
                "network.CONDITION.{disconnect_rate, mean_sojourn, to_*}",
            )
        pairs.append((path, value))
    return pairs


def tilt_text(pairs) -> str:
    """The tilt setting's text for (path, value) pairs (or a {path: value} dict)."""
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return ";".join(f"{p}={v:g}" if isinstance(v, float) else f"{p}={v}" for p, v in items)


# ---------------------------------------------------------------- laws of the weather


def _exit_rate(cfg: Scenario, state: int) -> float:
    """Rate of leaving condition `state` (0 where it never leaves: an infinite sojourn or nowhere
    to go, as `network.Weather` draws it)."""
    cond = cfg.network.condition(CONDITIONS[state])
    if not math.isfinite(cond.mean_sojourn) or sum(_jump_weights(cfg, state)) <= 0:
        return 0.0
    return 1.0 / cond.mean_sojourn


def _jump_weights(cfg: Scenario, state: int) -> list[float]:
    cond = cfg.network.condition(CONDITIONS[state])
    weights = [cond.to_stable, cond.to_unstable, cond.to_poor]
    weights[state] = 0.0
    return weights


def _jump_probability(cfg: Scenario, src: int, dst: int) -> float:
    weights = _jump_weights(cfg, src)
    return weights[dst] / sum(weights)


def _event_rate(cfg: Scenario, state: int) -> float:
    return cfg.network.condition(CONDITIONS[state]).disconnect_rate * cfg.disconnects.rate_scale


def _degenerate(d: Dist) -> bool:
    """A point mass (constant, or any family at scale 0)."""
    return d.kind == "constant" or d.scale == 0.0


def outage_log_density(
    d: Dist, x: np.ndarray, mix=0.0, shift=0.0, shifted: Dist | None = None
) -> np.ndarray:
    """log density at x of a random disconnect's outage: the law `d`, shifted by shift_j with
    probability mix_j (`Disconnects.outage_mix`, `outage_shift` and `outage_mix2`,
    `outage_shift2`; `mix` and `shift` a number each, or sequences of the same length), i.e.

        log((1 - sum_j mix_j) f(x) + sum_j mix_j g(x - shift_j) 1{x >= shift_j}),

    g the shifted outages' law (`Disconnects.shifted_law`; `d` itself if `shifted` is None),

    summed in log space (np.logaddexp: no underflow where f(x) is e^-30 and less). A component
    with mix_j = 0 or shift_j = 0 is f itself; sum_j mix_j = 1 leaves no plain part (-inf below the
    shortest shift). A point mass (constant law) is a density on its points: 0 at its value, -inf
    elsewhere; shifted, its point is value + shift, the same sum `network.Weather` draws."""
    x = np.asarray(x, dtype=float)
    mixes, shifts = np.atleast_1d(np.asarray(mix, float)), np.atleast_1d(np.asarray(shift, float))
    if mixes.shape != shifts.shape:
        raise ValueError(f"mix {mix!r} and shift {shift!r}: one share per shift")
    plain = _plain_log_density(d, x)
    shifted_parts = [(m, s) for m, s in zip(mixes.tolist(), shifts.tolist()) if m > 0 and s > 0]
    if not shifted_parts:
        return plain  # no shifted component (a share or shift of 0 is f itself): f, bit for bit
    shifted_share = sum(m for m, _ in shifted_parts)  # the plain part has 1 - this
    parts = [math.log1p(-shifted_share) + plain] if shifted_share < 1 - 1e-12 else []
    g = d if shifted is None else shifted
    for m, s in shifted_parts:
        if _degenerate(g):
            point = g.scale if g.kind == "constant" else 0.0
            part = np.where(x == point + s, 0.0, -np.inf)
        else:
            above = x >= s
            part = np.full(x.shape, -np.inf)
            part[above] = _plain_log_density(g, x[above] - s)
        parts.append(math.log(m) + part)
    return functools.reduce(np.logaddexp, parts)


def _plain_log_density(d: Dist, x: np.ndarray) -> np.ndarray:
    """log f(x) of the outage law `d` (a point mass: 0 at its value, -inf elsewhere)."""
    s, a = d.scale, d.shape
    if _degenerate(d):
        return np.where(x == (s if d.kind == "constant" else 0.0), 0.0, -np.inf)
    with np.errstate(divide="ignore"):
        if d.kind == "exponential":
            return -math.log(s) - x / s
        if d.kind == "halfnormal":
            return 0.5 * math.log(2 / math.pi) - math.log(s) - x * x / (2 * s * s)
        if d.kind == "lognormal":  # 0 at x = 0 (its log -inf, not the formula's inf - inf)
            with np.errstate(invalid="ignore"):
                z = np.log(x / s) / a
                log_f = -np.log(x) - math.log(a) - 0.5 * math.log(2 * math.pi) - z * z / 2
            return np.where(x > 0, log_f, -np.inf)
        if d.kind == "pareto":  # Lomax: scale * numpy's pareto(shape)
            return math.log(a / s) - (a + 1) * np.log1p(x / s)
        return np.where((x >= 0) & (x <= s), -math.log(s), -np.inf)  # uniform(0, scale)


def random_events(cfg: Scenario, weather: NetworkRecord, end: float) -> list:
    """The weather's Poisson events at or before `end` (the scheduled ones taken out)."""
    scheduled = Counter(cfg.disconnects.scheduled())
    events = []
    for e in weather.events:
        key = (e.time, e.kind, e.outage)
        if scheduled[key] > 0:
            scheduled[key] -= 1
        elif e.time <= end:
            events.append(e)
    return events


def log_likelihood(cfg: Scenario, weather: NetworkRecord, end: float) -> float:
    """log density, under `cfg`'s weather settings, of what `weather` shows on [0, end]."""
    return _conditions_log_likelihood(cfg, weather, end) + _events_log_likelihood(cfg, weather, end)


def _conditions_log_likelihood(cfg: Scenario, weather: NetworkRecord, end: float) -> float:
    starts, states = weather.condition_start, weather.condition_index.tolist()
    ll = 0.0
    for i, state in enumerate(states):
        start = float(starts[i])
        stop = float(starts[i + 1]) if i + 1 < len(states) else math.inf
        q = _exit_rate(cfg, state)
        if stop > end:
            return ll - q * (end - start)
        p = _jump_probability(cfg, state, states[i + 1]) if q > 0 else 0.0
        ll += (math.log(q * p) if q * p > 0 else -math.inf) - q * (stop - start)
    return ll


def _events_log_likelihood(cfg: Scenario, weather: NetworkRecord, end: float) -> float:
    """The random events' part: a Poisson process of the conditions' rates, each event's kind and
    outage its marks; with `shift_once`, after the event that ends the mixture
    (`Disconnects.last_shifted`), the rate times `after_shift_rate` and plain outages."""
    d = cfg.disconnects
    events = random_events(cfg, weather, end)
    last = d.last_shifted([e.outage for e in events])
    switch = events[last].time if last is not None else math.inf  # the mixture's last moment
    exposure = _exposure(cfg, weather, 0.0, min(switch, end))
    if switch < end:
        exposure += d.after_shift_rate * _exposure(cfg, weather, switch, end)
    if not events:
        return -exposure
    n = len(events) if last is None else last + 1  # the events the mixture covers
    times = np.array([e.time for e in events])
    rates = np.array([_event_rate(cfg, s) for s in weather.condition_at(times).tolist()])
    rates[n:] *= d.after_shift_rate
    kind_p = dict(zip(DISCONNECT_KINDS, cfg.disconnects.kind_probabilities()))
    marks = np.array([kind_p[e.kind] for e in events])
    outages = np.array([e.outage for e in events])
    components = d.outage_components()
    mixed = outage_log_density(
        d.outage,
        outages[:n],
        [m for m, _ in components],
        [s for _, s in components],
        d.shifted_law(),
    )
    plain = outage_log_density(d.outage, outages[n:])
    with np.errstate(divide="ignore"):
        return float(np.sum(np.log(rates * marks)) + mixed.sum() + plain.sum()) - exposure


def _exposure(cfg: Scenario, weather: NetworkRecord, a: float, b: float, rate=None) -> float:
    """The integral of the random events' rate over [a, b] (`rate(cfg, condition)`: the events'
    rate in each condition, `_event_rate` by default)."""
    rate = rate or _event_rate
    starts = weather.condition_start.tolist()
    stops = [*starts[1:], math.inf]
    return sum(
        rate(cfg, s) * max(0.0, min(stop, b) - max(start, a))
        for start, stop, s in zip(starts, stops, weather.condition_index.tolist())
    )


def tilted(cfg: Scenario) -> Scenario:
    """The weather a scenario's sessions are simulated under: its tilt applied (itself if none)."""
    return _tilted(cfg) if cfg.tilt else cfg


@settings_cache
def _tilted(cfg: Scenario) -> Scenario:
    from model.config import apply_overrides

    return apply_overrides(cfg, {"tilt": "", **dict(parse_tilt(cfg.tilt))})


def log_weight(cfg: Scenario, weather: NetworkRecord, end: float) -> float:
    """log of the likelihood ratio scenario / tilted of `weather` (drawn under the tilt) up to
    `end`."""
    if not cfg.tilt:
        return 0.0
    return log_likelihood(cfg, weather, end) - log_likelihood(tilted(cfg), weather, end)


def weight(cfg: Scenario, weather: NetworkRecord, end: float) -> float:
    """The session's weight: exactly 1.0 without a tilt."""
    return math.exp(log_weight(cfg, weather, end)) if cfg.tilt else 1.0


def check_tilt(cfg: Scenario) -> None:
    """Refuse a tilt under which some weather the scenario can produce is impossible (its weight
    would be infinite: the estimator would silently miss that part of the scenario)."""
    tilt = tilted(cfg)
    for state, name in enumerate(CONDITIONS):
        if _event_rate(cfg, state) > 0 and _event_rate(tilt, state) == 0:
            raise ConfigError("tilt", cfg.tilt, f"a disconnect rate > 0 in `{name}` (it has one)")
        if _exit_rate(cfg, state) > 0 and _exit_rate(tilt, state) == 0:
            raise ConfigError("tilt", cfg.tilt, f"`{name}` must still be left (it is)")
        if _exit_rate(cfg, state) == 0 or _exit_rate(tilt, state) == 0:
            continue
        for dst in range(len(CONDITIONS)):
            if _jump_probability(cfg, state, dst) > 0 and _jump_probability(tilt, state, dst) == 0:
                raise ConfigError(
                    "tilt", cfg.tilt, f"`{name}` -> `{CONDITIONS[dst]}` still possible"
                )
    for kind, p, p_tilt in zip(
        DISCONNECT_KINDS,
        cfg.disconnects.kind_probabilities(),
        tilt.disconnects.kind_probabilities(),
    ):
        if p > 0 and p_tilt == 0:
            raise ConfigError("tilt", cfg.tilt, f"`{kind}` events still possible")
    a, b = cfg.disconnects, tilt.disconnects
    if b.shift_once and b.after_shift_rate == 0 and any(map(_event_rate, [cfg] * 3, range(3))):
        raise ConfigError(
            "tilt", cfg.tilt, "disconnects.after_shift_rate > 0 (the scenario's disconnects go on)"
        )
    if (_degenerate(a.outage) or _degenerate(b.outage)) and _outage_law(a) != _outage_law(b):
        raise ConfigError("tilt", cfg.tilt, "a constant outage law left unchanged (and unmixed)")
    if not _covers(_outage_support(b), _outage_support(a)):
        if _plain_share(b) <= 0:
            raise ConfigError(
                "tilt",
                cfg.tilt,
                "disconnects.outage_mix + disconnects.outage_mix2 < 1 (at "
                f"{b.outage_mix:g} + {b.outage_mix2:g} = 1 no plain part is left, and with a "
                "shift > 0 outages shorter than the shortest shift become impossible)",
            )
        raise ConfigError("tilt", cfg.tilt, "a uniform outage law covering the scenario's")


def _outage_law(d) -> tuple:
    """What fixes the law of a random disconnect's outage."""
    return d.outage, d.outage_components(), d.shifted_law()


def _plain_share(d) -> float:
    """The probability that a random disconnect's outage is a plain draw (no shift)."""
    return 1.0 - sum(m for m, _ in d.outage_components())


def _outage_support(d) -> list[tuple[float, float]]:
    """The intervals where a random disconnect's outage has positive density (the uniform law's
    [0, scale], every other family's [0, inf); each shifted component's moved by its shift)."""
    top = d.outage.scale if d.outage.kind == "uniform" else math.inf
    reach = d.shifted_law().scale if d.outage.kind == "uniform" else math.inf
    plain = [(0.0, top)] if _plain_share(d) > 0 else []
    return plain + [(shift, shift + reach) for _, shift in d.outage_components()]


def _covers(outer: list[tuple[float, float]], inner: list[tuple[float, float]]) -> bool:
    """Every interval of `inner` inside the union of `outer`'s (end points aside: a null set)."""
    for lo, hi in inner:
        reach = lo
        for a, b in sorted(outer):
            if a <= reach:
                reach = max(reach, b)
        if reach < hi:
            return False
    return True


def event_statistics(cfg: Scenario, weather: NetworkRecord, end: float) -> tuple[int, float, float]:
    """The Poisson events' sufficient statistics on [0, end] for a tilt of `rate_scale` and an
    exponential outage mean: (events, their expected number per unit of `rate_scale` (the
    integral of the conditions' rates), total outage)."""
    exposure = _exposure(
        cfg, weather, 0.0, end, lambda c, s: c.network.condition(CONDITIONS[s]).disconnect_rate
    )
    events = random_events(cfg, weather, end)
    return len(events), exposure, float(sum(e.outage for e in events))
