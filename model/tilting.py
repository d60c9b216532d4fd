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
becomes: the scenario's own outage law, and with probability m (at most `MIX`) an outage shifted
by T (one shift), or by T1 or T2 (one shift per failure mode: `mixture` states the rule), e.g.

    T = SAFETY x (the shortest downtime that failed a pilot session)

(an outage counted as the network's whole unreachable spell, overlapping events merged), and the
plain-neutral rate: the scenario's disconnect rate / (1 - m), under which a plain disconnect
weighs (1/r) / (1 - m) = 1 (the cross-entropy rate, fitted to longer outages, would spread the
weights by r^-(events)). Under it a shifted outage needs only the law's own excess past the
threshold, and (for exponential outages, memoryless) every failing session's long outage carries
the same factor e^(-T/s)/(r m): a session's weight is fixed by how many outages were shifted (and
by e^((r - 1) Lambda), Lambda its expected disconnects), so the failures of one mode weigh alike.
With two modes (the multi-stream scenarios: one outage past ~50 s, or two of ~25 s inside one
reconnect minute, which the backoff's attempts both fall into) the shares are set so that one
long-shifted outage and two short-shifted ones weigh the same (`_shares`).

Why T must stay below the failure threshold theta: outages between theta and T fail the session
but can only be drawn by the plain part (1 - m), about as rarely as under the scenario, while
the weight of such a session is about 1 per event instead of e^(-T/s)/(r m): the estimate
stays unbiased (the plain part keeps every outage possible, so nothing is left out of the
support), but that part of the failure probability would be carried by sessions that almost never
appear, and the run would underestimate with high probability, its interval not showing it. The
pilot's shortest failing outage can sit above theta (patience is random: a jittered backoff
schedule), hence the safety factor. A T below theta costs efficiency: only e^(-(theta - T)/s) of
the shifted outages reach theta, and once theta - T is many outage means that part of the failures
is as good as missed too, its rare samples carrying weights far above the rest (the effective
number of adverse events then stays small and the verdict is flagged degenerate, not decided).
Assumptions: the failures are caused by one long spell or two (a pilot's pile of many medium
ones inside one failed reconnect is read as one spell spanning it, `is_pile`), and the pilot's
failing sessions show the threshold's scale.

Shift once (`disconnects.shift_once`). Under a tilt a long outage extends its session by the
client's whole reconnect window, and disconnects go on arriving in it; with every one of them
mixed, a failing session carried two, three or more shifted outages, each costing its weight
some 10^11 (buffer-preservation, 1,125 sessions, seed 1: 497 failures spread over 15 orders of
magnitude, one of them carrying the whole estimate: 1.0 effective adverse event). So the mixture
holds only until the session's shifted outages are in (an observable rule: outages of at least
the shortest shift adding up to the longest), and from that event on the scenario's own weather
returns (plain outages, its rate: `after_shift_rate` = 1 - m undoes the plain-neutral rate).
Every session that fails by one long outage then weighs alike (within e^((r - 1) Lambda), the
rate's part), the same run: 9 failures, all within one order of magnitude.

Refit (`refined`). The first long shift, SAFETY x the shortest failing downtime of the
cross-entropy pilot, sits several outage means below where one outage starts to fail (those
failures pile outages together). One more pilot round, under the mixture with `shift_once` and a
wide shifted law (`shifted_scale` = SCAN x the shift, so its outages scan the range past the
shift), shows the shortest outage that failed a session alone; the long shift moves to NEAR
outage scales below it, and the final tilt draws the scenario's own law past the shift
(memoryless for exponential outages: every failing session's long outage weighs the same).

Limit (measured, README "Importance sampling"): even so, few sessions with a shifted outage fail.
The threshold an outage must pass is the client's patience, and that varies from stream to stream
with the backoff's full jitter (measured on text-interruption, 2,000 streams cut by a clean close
that never ends: they gave up 48.7 to 64.0 s after it, median 59.2 s, 5th percentile 52.6 s; a
silent black-hole adds its detection, 94 to 109 s), and a session's is the least of its streams'.
With the shift below the lowest threshold few of the sessions with a shifted outage fail (1 to 8
%), and the estimate is carried by the rare sessions whose patience is shortest. Weather tilts
cannot reach the client's jitter; the effective number of adverse events stays below 30 at the
report's budgets.
"""

from __future__ import annotations

import math
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
MIX = 0.8  # the mixture's largest share of shifted outages: defensive (the plain part keeps 1/5)
SAFETY = 0.9  # the first shift: this share of the shortest failing outage (below the threshold)
NEAR = 1.0  # a refined long shift: this many outage scales below the shortest failing outage
SCAN = 1.0  # the refitting pilot's shifted law: its scale this multiple of the first long shift
PILOT_STREAMS = 2000  # a pilot round's streams: its sessions are at most this / streams a session
MIN_PILOT = 20  # a pilot round's fewest sessions
PAIR = 0.25  # a second spell this share of the longest, within a reconnect window: two outages
OUTLASTED = ("network_timeout", "resume_window_exceeded")  # errors of an outage past patience
PILE = 0.75  # a failed reconnect whose two longest spells carry less of its downtime: a pile


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
    # per session: (break, give-up) of its shortest reconnect that failed so (NaN if none)
    reconnects: np.ndarray | None = None


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
        _failed_reconnects(res, ends.index),
    )


def _failed_reconnects(res, sessions) -> np.ndarray:
    """Per session: (start, end) of its shortest reconnect that an outage outlasted, from its
    stream's last break to its giving up; NaN where none did."""
    s = res.streams[res.streams.error.isin(OUTLASTED)]
    start = s.stream.map(res.disconnects.groupby("stream").time.max())
    window = s.assign(start=start, length=s.end_time - start).sort_values("length")
    first = window.groupby("session").first()
    return first.reindex(sessions)[["start", "end_time"]].to_numpy(dtype=float)


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
    return max((b - a for a, b in weather.outage_spells(end)), default=0.0)


def failure_spells(weather, end: float, window: float) -> tuple[float, float]:
    """(the longest unreachable spell, the longest other spell less than `window` apart from it
    (0 if none)): the outage, or the two outages, one reconnect's attempts fell into."""
    spells = weather.outage_spells(end)
    if not spells:
        return 0.0, 0.0
    a, b = max(spells, key=lambda s: s[1] - s[0])
    near = [d - c for c, d in spells if (c, d) != (a, b) and max(c - b, a - d) < window]
    return b - a, max(near, default=0.0)


def is_pile(weather, start: float, end: float) -> bool:
    """Whether the reconnect [start, end] failed in a pile of outages: its two longest spells
    (their parts inside it) carry less than PILE of the time it was unreachable, so neither one
    outage nor two explain the failure (a tilted pilot's high rate makes such piles)."""
    inside = [min(b, end) - max(a, start) for a, b in weather.outage_spells(end) if b > start]
    return sum(sorted(inside)[-2:]) < PILE * sum(inside)


def _shares(cfg: Scenario, total: float, long: float, short: float) -> tuple[float, float]:
    """The shares (m1, m2), m1 + m2 = `total`, of the long and the short shift: such that one long
    shifted outage and two short ones weigh the same under the plain-neutral rate
    r = 1/(1 - total) (for exponential outages of mean s a shifted outage weighs e^(-T/s)/(r m)
    whatever its excess, so m1 = c m2^2 with c = r e^((2 short - long)/s); other laws: c = r),
    each kept within [total/10, 9 total/10] so that both modes stay sampled."""
    d, r = cfg.disconnects.outage, 1.0 / (1.0 - total)
    exponent = (2 * short - long) / d.scale if d.kind == "exponential" else 0.0
    c = r * math.exp(min(max(exponent, -30.0), 30.0))
    m2 = (math.sqrt(1.0 + 4.0 * c * total) - 1.0) / (2.0 * c)
    m2 = min(max(m2, total / 10), 9 * total / 10)
    return total - m2, m2


def shifted_share(cfg: Scenario, seed: int, p: Pilot) -> float:
    """The mixture's total share of shifted outages: 1/(1 + Lambda), Lambda the mean number of
    random disconnects the scenario gives a pilot session up to its end, so that under the
    plain-neutral rate a session has one shifted outage on average (Lambda m/(1 - m) = 1: the
    most sessions with exactly one, a session's weight falling by orders of magnitude with each
    shifted outage more); at most MIX."""
    lam = np.mean(
        [
            importance.event_statistics(cfg, session_weather(p.trial, seed, int(s)), float(e))[1]
            for s, e in zip(p.sessions, p.ends)
        ]
    )
    return min(MIX, 1.0 / (1.0 + cfg.disconnects.rate_scale * float(lam)))


def mixture(cfg: Scenario, seed: int, p: Pilot) -> dict:
    """The shifted-mixture settings the pilot `p` calls for (module docstring), or {}: none while
    the pilot has `MIN_ELITE` failures (the exponential family works), none of them an outage
    outlasting the client, or the scenario's outages are a point mass or already mixed.

    The rule: each session that failed by an outage outlasting the client shows the outage its
    reconnect fell into (its longest unreachable spell, L1) and the longest other spell less than
    one reconnect window (`client.backoff.deadline`) from it (L2); L1 + L2 is the downtime the
    reconnect faced. A session with L2 >= `PAIR` L1 failed by two outages (mode b), else by one
    (mode a). A pile (`is_pile`: many outages inside its shortest failed reconnect, none of them
    long) is mode a with that reconnect's length as its downtime: the mixture can shift one or
    two outages, not a pile, and the reconnect's length is the patience the pile outlasted (read
    as a pair, its two longest spells gave shifts that failed nothing: measured on stress).
    Only mode a seen: one shift, SAFETY x the shortest L1 + L2. Mode b seen: two shifts,
    the short one SAFETY x the shortest (L1 + L2)/2 over mode-b sessions (two outages sharing the
    downtime evenly: for exponential outages every split of a total is as likely, and the even
    one is what two shifted draws make), the long one SAFETY x the shortest L1 + L2 over mode-a
    sessions (2 x the short shift if none: one outage carrying a pair's downtime), their shares
    `_shares`. The shares sum to `shifted_share` m (at most MIX), the rate is the plain-neutral
    one, the scenario's / (1 - m): a plain disconnect then weighs (1/r)/(1 - m) = 1, and a
    session's weight is fixed by its shifted outages (and e^((r-1) Lambda))."""
    d = cfg.disconnects
    if p.adverse.sum() >= MIN_ELITE or not p.outlasted.any():
        return {}
    if d.outage_components() or d.outage.kind == "constant" or d.outage.scale == 0:
        return {}
    deadline = cfg.client.backoff.deadline
    window = deadline if math.isfinite(deadline) else cfg.horizon
    failed = p.reconnects if p.reconnects is not None else np.full((len(p.sessions), 2), np.nan)
    found, piles = [], []
    for session, end, (start, stop) in zip(
        p.sessions[p.outlasted], p.ends[p.outlasted], failed[p.outlasted]
    ):
        weather = session_weather(p.trial, seed, int(session))
        if is_pile(weather, start, stop):
            piles.append(stop - start)  # one outage would have to span the whole reconnect
        else:
            found.append(failure_spells(weather, float(end), window))
    one = [l1 + l2 for l1, l2 in found if l2 < PAIR * l1] + piles
    two = [(l1 + l2) / 2 for l1, l2 in found if l2 >= PAIR * l1]
    total = shifted_share(cfg, seed, p)
    rate = {
        "disconnects.rate_scale": d.rate_scale / (1.0 - total),
        "disconnects.shift_once": True,
        "disconnects.after_shift_rate": 1.0 - total,  # back to the scenario's rate
    }
    if not two:
        return {
            **rate,
            "disconnects.outage_mix": total,
            "disconnects.outage_shift": SAFETY * min(one),
        }
    short = SAFETY * min(two)
    long = SAFETY * min(one) if one else 2 * short
    return {**rate, **_two_shifts(cfg, total, long, short)}


def _two_shifts(cfg: Scenario, total: float, long: float, short: float) -> dict:
    m1, m2 = _shares(cfg, total, long, short)
    return {
        "disconnects.outage_mix": m1,
        "disconnects.outage_shift": long,
        "disconnects.outage_mix2": m2,
        "disconnects.outage_shift2": short,
    }


def refined(cfg: Scenario, seed: int, tilt: dict, sessions: int, workers=None) -> dict:
    """The mixture `tilt` with its long shift moved to NEAR outage scales below the shortest
    outage that alone failed a session of a pilot under it: the last outage of the mixture
    (`Disconnects.last_shifted`) of a session that failed by an outage outlasting the client, if
    it alone reaches the long shift. The first shift, SAFETY x the shortest failing downtime of
    the cross-entropy pilot, sits several outage means below the failure threshold (those
    failures pile outages together); under `shift_once` a session has one long outage, and with
    a wide shifted law (`choose_tilt`) the pilot's failures show where the threshold begins. Never
    past the shortest failing downtime the cross-entropy pilot saw (the first shift / SAFETY): a
    small pilot's shortest failure can lie far above the threshold. The same tilt if none failed
    so."""
    p = pilot(cfg, seed, tilt, sessions, workers)
    law = importance.tilted(p.trial).disconnects
    failing = []
    for session, end in zip(p.sessions[p.outlasted], p.ends[p.outlasted]):
        events = importance.random_events(cfg, session_weather(p.trial, seed, int(session)), end)
        last = law.last_shifted([e.outage for e in events])
        if last is not None and events[last].outage >= law.outage_shift:
            failing.append(events[last].outage)
    if not failing:
        return tilt
    shortest = min(min(failing), law.outage_shift / SAFETY)  # nor past the first pilot's failure
    long = max(shortest - NEAR * cfg.disconnects.outage.scale, law.outage_shift2)
    if law.outage_mix2 == 0:
        return {**tilt, "disconnects.outage_shift": long}
    total = law.outage_mix + law.outage_mix2
    return {**tilt, **_two_shifts(cfg, total, long, law.outage_shift2)}


def pilot_sessions(cfg: Scenario) -> int:
    """A pilot round's sessions: PILOT_SESSIONS, fewer for large sessions (PILOT_STREAMS)."""
    return max(MIN_PILOT, min(PILOT_SESSIONS, PILOT_STREAMS // cfg.session.streams))


def choose_tilt(
    cfg: Scenario, seed: int, sessions: int | None = None, rounds: int = ROUNDS, workers=None
) -> str:
    """The tilt text `--tilt auto` uses for `cfg` (empty if the scenario has no random
    disconnects to tilt): `rounds` of cross-entropy, then the shifted mixture if the last round
    calls for it (with the plain-neutral rate; the outage law is then the scenario's own, the
    shifts carrying the outage's rarity)."""
    rates = [cfg.network.condition(c).disconnect_rate for c in ("stable", "unstable", "poor")]
    if cfg.disconnects.rate_scale == 0 or not any(rates):
        return ""
    sessions = sessions or pilot_sessions(cfg)
    tilt, last = {k: v * cfg.disconnects.rate_scale for k, v in START.items()}, None
    for _ in range(rounds):
        last = pilot(cfg, seed, tilt, sessions, workers)
        tilt = cross_entropy_fit(cfg, seed, last, tilt)
    mixed = mixture(cfg, seed, last) if last else {}
    if mixed:
        scan = SCAN * mixed["disconnects.outage_shift"]  # wide: the pilot sees the threshold
        wide = {**mixed, "disconnects.shifted_scale": max(scan, cfg.disconnects.outage.scale)}
        tilt = refined(cfg, seed, wide, sessions, workers)
        del tilt["disconnects.shifted_scale"]  # the final tilt: the scenario's law past the shift
    return importance.tilt_text(
        {k: v if isinstance(v, bool) else float(f"{v:.3g}") for k, v in tilt.items()}
    )


def with_tilt(cfg: Scenario, tilt: list[str], seed: int, workers=None) -> Scenario:
    """`cfg` with the tilt of the `--tilt` options: 'auto' or dotted weather settings."""
    if not tilt:
        return cfg
    text = choose_tilt(cfg, seed, workers=workers) if tilt == ["auto"] else ";".join(tilt)
    return apply_overrides(cfg, {"tilt": text}) if text else cfg


def describe(cfg: Scenario) -> str:
    return f"tilt {cfg.tilt}" if cfg.tilt else "no tilt"
