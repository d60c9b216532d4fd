"""Choosing the tilt of an importance-sampled run (`--tilt auto`): the cross-entropy method.

The family: the scenario's weather with its disconnect rates scaled (`disconnects.rate_scale`)
and, when outages are exponential, their mean changed (`disconnects.outage.scale`). Both are
exponential families, so the cross-entropy step has a closed form (Rubinstein & Kroese 2004):
over the pilot's "elite" sessions E, each weighted by its likelihood ratio w,

    rate_scale' = sum_E w N / sum_E w Lambda,    outage mean' = sum_E w O / sum_E w N

with N the session's disconnect events up to its end, Lambda their expected number per unit of
rate_scale and O their total outage: the weighted maximum-likelihood fit to the sessions that
failed. The elite are the sessions with an adverse event (a stream not completed or a disconnect
not recovered) when the pilot has at least `MIN_ELITE` of them; otherwise the `ELITE_FRACTION`
most troubled sessions (longest time without streaming), so the next round moves towards failure
(multilevel cross-entropy). A few rounds of a small pilot, sessions apart from the real run's.

The defensive shifted mixture (`mixture`). When a failure needs *one* outage past the client's
patience (an outage of 45 s where they average 1.5 s, e^-30 per disconnect), the exponential family
is a poor change of measure: longer outages for every disconnect spread the failing sessions'
weights over many orders of magnitude, and the cross-entropy rounds end with fewer than
`MIN_ELITE` failures. Then, if some pilot sessions of the last round did fail because an outage
outlasted the client (a stream's error `network_timeout` or `resume_window_exceeded`), the tilt
becomes: the fitted rate, the scenario's own outage law, and with probability `MIX` an outage
shifted by

    T = SAFETY x (the shortest of those sessions' longest outages)

(an outage counted as the network's whole unreachable spell, overlapping events merged). Under it
a shifted outage needs only the law's own excess past the threshold, and (for exponential outages,
memoryless) every failing session's long outage carries the same factor e^(-T/s)/MIX: the weights
of the failures stay within the spread of (1 - MIX)^-(events) and the rate tilt's.

Why T must stay below the failure threshold theta: outages between theta and T fail the session
but can only be drawn by the plain part (1 - MIX), about as rarely as under the scenario, while
the weight of such a session is about 1/(1 - MIX) per event instead of e^(-T/s)/MIX: the estimate
stays unbiased (the plain part keeps every outage possible, so nothing is left out of the
support), but that part of the failure probability would be carried by sessions that almost never
appear, and the run would underestimate with high probability, its interval not showing it. The
pilot's shortest failing outage can sit above theta (patience is random: a jittered backoff
schedule), hence the safety factor. A T below theta costs efficiency: only e^(-(theta - T)/s) of
the shifted outages reach theta, and once theta - T is many outage means that part of the failures
is as good as missed too, its rare samples carrying weights far above the rest (the effective
number of adverse events then stays small and the verdict is flagged degenerate, not decided).
Assumptions: the failures are caused by one long spell (not many medium ones: those are the
exponential family's case), and the pilot's failing sessions show the threshold's scale. Where
failures have two comparable modes (the multi-stream scenarios: one outage past ~50 s, or two of
~25 s inside one reconnect minute, which the backoff's attempts both fall into), one shift
samples one mode well and the other rarely, and the weights stay degenerate (README
"Importance sampling").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model import importance, runner
from model.config import Scenario, apply_overrides
from model.simulation import session_weather

PILOT_SESSIONS = 200
ROUNDS = 3
MIN_ELITE = 20
ELITE_FRACTION = 0.1
PILOT_FIRST = 10**9  # the pilots' sessions: far from any real run's (0, 1, ...)
START = {"disconnects.rate_scale": 4.0}  # the first round's tilt: disconnects 4x as often
AWAY = ("time_disconnected", "time_backing_off", "time_connecting", "time_resuming")
MIX = 0.5  # the mixture's share of shifted outages: defensive (the plain part keeps half)
SAFETY = 0.9  # the shift: this share of the shortest failing outage (below the threshold)
OUTLASTED = ("network_timeout", "resume_window_exceeded")  # errors of an outage past patience


def _trouble(res) -> tuple[np.ndarray, np.ndarray]:
    """Per session (in order): adverse (bool) and time without streaming (s)."""
    s, d = res.streams, res.disconnects
    unrecovered = d[d.outcome != "recovered"].stream.map(s.set_index("stream").session)
    by_session = s.groupby("session", sort=True)
    adverse = by_session.outcome.agg(lambda o: bool((o != "completed").any()))
    adverse |= adverse.index.isin(unrecovered)
    away = s[list(AWAY)].sum(axis=1).groupby(s.session).max()
    return adverse.to_numpy(), away.to_numpy()


@dataclass(frozen=True)
class Pilot:
    """One pilot round's sessions (in order) under `trial` (the scenario with the round's tilt)."""

    trial: Scenario
    sessions: np.ndarray  # session numbers
    ends: np.ndarray  # each session's end (its last stream's end)
    weights: np.ndarray
    adverse: np.ndarray  # a stream not completed or a disconnect not recovered
    away: np.ndarray  # the longest time a stream spent without streaming
    outlasted: np.ndarray  # a stream failed because an outage outlasted the client (OUTLASTED)


def pilot(cfg: Scenario, seed: int, tilt: dict, sessions: int, workers=None) -> Pilot:
    """`sessions` pilot sessions of `cfg` under `tilt` (numbered from PILOT_FIRST)."""
    trial = apply_overrides(cfg, {"tilt": importance.tilt_text(tilt)})
    res = runner.run(
        trial, sessions, seed, workers=workers, progress=False, first_stream=PILOT_FIRST
    )
    s = res.streams
    by_session = s.groupby("session", sort=True)
    adverse, away = _trouble(res)
    ends = by_session.end_time.max()
    return Pilot(
        trial,
        ends.index.to_numpy(),
        ends.to_numpy(),
        by_session.weight.first().to_numpy(),
        adverse,
        away,
        by_session.error.agg(lambda e: bool(e.isin(OUTLASTED).any())).to_numpy(),
    )


def cross_entropy_fit(cfg: Scenario, seed: int, p: Pilot, tilt: dict) -> dict:
    """The tilt fitted to the elite sessions of the pilot `p` (run under `tilt`)."""
    if p.adverse.sum() >= MIN_ELITE:
        elite = p.adverse
    else:
        elite = p.away >= np.quantile(p.away, 1 - ELITE_FRACTION)
    n = lam = outage = 0.0
    for session, end, w in zip(p.sessions[elite], p.ends[elite], p.weights[elite]):
        k, exposure, total = importance.event_statistics(
            cfg, session_weather(p.trial, seed, int(session)), float(end)
        )
        n, lam, outage = n + w * k, lam + w * exposure, outage + w * total
    fitted = dict(tilt)
    d = cfg.disconnects
    if lam > 0 and n > 0:
        fitted["disconnects.rate_scale"] = float(max(d.rate_scale, n / lam))
        if d.outage.kind == "exponential" and d.outage.scale > 0 and d.outage_mix == 0:
            fitted["disconnects.outage.scale"] = float(max(d.outage.scale, outage / n))
    return fitted


def cross_entropy_step(cfg: Scenario, seed: int, tilt: dict, sessions: int, workers=None) -> dict:
    """One round: a pilot under `tilt`, and the tilt fitted to its elite sessions."""
    return cross_entropy_fit(cfg, seed, pilot(cfg, seed, tilt, sessions, workers), tilt)


def longest_outage(weather, end: float) -> float:
    """The longest spell the network is unreachable in a weather record, over the events at or
    before `end` (overlapping outages merged: an event during an outage extends it)."""
    longest, start, stop = 0.0, None, None
    for e in sorted((e for e in weather.events if e.time <= end), key=lambda e: e.time):
        if start is None or e.time > stop:
            start, stop = e.time, e.time + e.outage
        else:
            stop = max(stop, e.time + e.outage)
        longest = max(longest, stop - start)
    return longest


def mixture(cfg: Scenario, seed: int, p: Pilot) -> dict:
    """The shifted-mixture settings the pilot `p` calls for (module docstring), or {}: none while
    the pilot has `MIN_ELITE` failures (the exponential family works), none of them an outage
    outlasting the client, or the scenario's outages are a point mass or already mixed."""
    d = cfg.disconnects
    if p.adverse.sum() >= MIN_ELITE or not p.outlasted.any():
        return {}
    if d.outage_mix > 0 or d.outage.kind == "constant" or d.outage.scale == 0:
        return {}
    spells = [
        longest_outage(session_weather(p.trial, seed, int(session)), float(end))
        for session, end in zip(p.sessions[p.outlasted], p.ends[p.outlasted])
    ]
    return {"disconnects.outage_mix": MIX, "disconnects.outage_shift": SAFETY * min(spells)}


def choose_tilt(
    cfg: Scenario, seed: int, sessions: int = PILOT_SESSIONS, rounds: int = ROUNDS, workers=None
) -> str:
    """The tilt text `--tilt auto` uses for `cfg` (empty if the scenario has no random
    disconnects to tilt): `rounds` of cross-entropy, then the shifted mixture if the last round
    calls for it (with the fitted rate; the outage law is then the scenario's own, the shift
    carrying the outage's rarity)."""
    rates = [cfg.network.condition(c).disconnect_rate for c in ("stable", "unstable", "poor")]
    if cfg.disconnects.rate_scale == 0 or not any(rates):
        return ""
    tilt, last = {k: v * cfg.disconnects.rate_scale for k, v in START.items()}, None
    for _ in range(rounds):
        last = pilot(cfg, seed, tilt, sessions, workers)
        tilt = cross_entropy_fit(cfg, seed, last, tilt)
    mixed = mixture(cfg, seed, last) if last else {}
    if mixed:
        tilt = {"disconnects.rate_scale": tilt["disconnects.rate_scale"], **mixed}
    return importance.tilt_text({k: float(f"{v:.3g}") for k, v in tilt.items()})


def with_tilt(cfg: Scenario, tilt: list[str], seed: int, workers=None) -> Scenario:
    """`cfg` with the tilt of the `--tilt` options: 'auto' or dotted weather settings."""
    if not tilt:
        return cfg
    text = choose_tilt(cfg, seed, workers=workers) if tilt == ["auto"] else ";".join(tilt)
    return apply_overrides(cfg, {"tilt": text}) if text else cfg


def describe(cfg: Scenario) -> str:
    return f"tilt {cfg.tilt}" if cfg.tilt else "no tilt"
