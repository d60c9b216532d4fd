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
"""

from __future__ import annotations

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


def _trouble(res) -> tuple[np.ndarray, np.ndarray]:
    """Per session (in order): adverse (bool) and time without streaming (s)."""
    s, d = res.streams, res.disconnects
    unrecovered = d[d.outcome != "recovered"].stream.map(s.set_index("stream").session)
    by_session = s.groupby("session", sort=True)
    adverse = by_session.outcome.agg(lambda o: bool((o != "completed").any()))
    adverse |= adverse.index.isin(unrecovered)
    away = s[list(AWAY)].sum(axis=1).groupby(s.session).max()
    return adverse.to_numpy(), away.to_numpy()


def cross_entropy_step(cfg: Scenario, seed: int, tilt: dict, sessions: int, workers=None) -> dict:
    """One round: a pilot under `tilt`, and the tilt fitted to its elite sessions."""
    trial = apply_overrides(cfg, {"tilt": importance.tilt_text(tilt)})
    res = runner.run(
        trial, sessions, seed, workers=workers, progress=False, first_stream=PILOT_FIRST
    )
    s = res.streams
    ends = s.groupby("session", sort=True).end_time.max()
    weights = s.groupby("session", sort=True).weight.first().to_numpy()
    adverse, away = _trouble(res)
    elite = adverse if adverse.sum() >= MIN_ELITE else away >= np.quantile(away, 1 - ELITE_FRACTION)
    n = lam = outage = 0.0
    for session, end, w in zip(ends.index[elite], ends.to_numpy()[elite], weights[elite]):
        k, exposure, total = importance.event_statistics(
            cfg, session_weather(trial, seed, int(session)), float(end)
        )
        n, lam, outage = n + w * k, lam + w * exposure, outage + w * total
    fitted = dict(tilt)
    if lam > 0 and n > 0:
        fitted["disconnects.rate_scale"] = float(max(cfg.disconnects.rate_scale, n / lam))
        if cfg.disconnects.outage.kind == "exponential" and cfg.disconnects.outage.scale > 0:
            fitted["disconnects.outage.scale"] = float(
                max(cfg.disconnects.outage.scale, outage / n)
            )
    return fitted


def choose_tilt(
    cfg: Scenario, seed: int, sessions: int = PILOT_SESSIONS, rounds: int = ROUNDS, workers=None
) -> str:
    """The tilt text `--tilt auto` uses for `cfg` (empty if the scenario has no random
    disconnects to tilt)."""
    rates = [cfg.network.condition(c).disconnect_rate for c in ("stable", "unstable", "poor")]
    if cfg.disconnects.rate_scale == 0 or not any(rates):
        return ""
    tilt = {k: v * cfg.disconnects.rate_scale for k, v in START.items()}
    for _ in range(rounds):
        tilt = cross_entropy_step(cfg, seed, tilt, sessions, workers)
    return importance.tilt_text({k: float(f"{v:.3g}") for k, v in tilt.items()})


def with_tilt(cfg: Scenario, tilt: list[str], seed: int, workers=None) -> Scenario:
    """`cfg` with the tilt of the `--tilt` options: 'auto' or dotted weather settings."""
    if not tilt:
        return cfg
    text = choose_tilt(cfg, seed, workers=workers) if tilt == ["auto"] else ";".join(tilt)
    return apply_overrides(cfg, {"tilt": text}) if text else cfg


def describe(cfg: Scenario) -> str:
    return f"tilt {cfg.tilt}" if cfg.tilt else "no tilt"
