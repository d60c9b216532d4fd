"""Estimates and SLO verdicts of an importance-sampled run (a `weight` column not all 1).

The same measures and targets as `model.slo`, with the session as the independent unit and the
estimators of `model.weighted`: every rate is a weighted ratio of per-session counts; quantile
targets are judged through the weighted exceedance of the target. A verdict whose weights are
degenerate (`WeightedRate.degenerate`) is INCONCLUSIVE and says why: never a PASS or FAIL.
Zero-tolerance targets (1.0) FAIL at the first violation seen in a session the scenario can
produce (weight > 0), as in crude runs.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from model import slo as crude
from model import weighted
from model.config import Slo
from model.records import ERRORS
from model.simulation import Results

METHOD = "importance sampling"


def is_weighted(res) -> bool:
    """Whether `res` (tables; an `slo.Evidence` is of unweighted ones) has weights other than 1."""
    return (
        isinstance(res, Results)
        and "weight" in res.streams
        and not bool((res.streams["weight"] == 1.0).all())
    )


def _sessions(res: Results) -> tuple[pd.Index, np.ndarray, int]:
    """The sessions in order, their weights, and streams per session."""
    s = res.streams
    first = s.groupby("session", sort=True).weight.first()
    return first.index, first.to_numpy(dtype=float), int(s.groupby("session").size().max())


def _per_session(index: pd.Index, sessions: pd.Series, flags: pd.Series) -> tuple:
    """(adverse, trials) per session of `index` from rows' sessions and adverse flags."""
    adverse = flags.astype(float).groupby(sessions).sum().reindex(index, fill_value=0.0)
    trials = sessions.groupby(sessions).size().reindex(index, fill_value=0)
    return adverse.to_numpy(), trials.to_numpy()


def rate_parts(res: Results) -> dict[str, tuple[np.ndarray, np.ndarray, float | None]]:
    """Per-session (adverse, trials, known mean of trials or None) of every rate measure."""
    s, d = res.streams, res.disconnects
    index, _, per_session = _sessions(res)
    completed = s[s.outcome == "completed"]
    failed = s[s.outcome == "failed"]
    intact = completed.integrity_ok & (completed.duplicates_delivered == 0)
    handled = failed.error.isin(ERRORS) & np.isfinite(failed.buffer_released_by)
    d_session = d.stream.map(s.set_index("stream").session)
    return {
        "completion_rate": (
            *_per_session(index, s.session, s.outcome != "completed"),
            float(per_session),
        ),
        "integrity_rate": (*_per_session(index, completed.session, ~intact), None),
        "recovery_rate": (*_per_session(index, d_session, d.outcome != "recovered"), None),
        "timeout_handling_rate": (*_per_session(index, failed.session, ~handled), None),
    }


def _groups(res: Results) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(values, session position) of every latency / memory sample (as `slo.latency_samples`)."""
    s, d = res.streams, res.disconnects
    index, _, _ = _sessions(res)
    position = pd.Series(np.arange(len(index)), index=index)
    session_of = s.set_index("stream").session
    d = d.assign(_pos=d.stream.map(session_of).map(position))
    last = d.groupby("stream")["index"].transform("max") == d["index"]
    reconnected = d[np.isfinite(d.reconnect_time) & (d.resume_time.notna() | last)]
    return {
        "reconnect_time": (d.reconnect_time.fillna(np.inf).to_numpy(), d._pos.to_numpy()),
        "resume_time": (
            reconnected.resume_time.fillna(np.inf).to_numpy(),
            reconnected._pos.to_numpy(),
        ),
        "recovery_time": (d.recovery_time.fillna(np.inf).to_numpy(), d._pos.to_numpy()),
        "buffer_bytes": (
            s.groupby("session").session_buffer_peak_bytes.first().astype(float).to_numpy(),
            np.arange(len(index)),
        ),
    }


def _diagnostics(r: weighted.WeightedRate) -> dict:
    return dict(ess=r.ess, effective_events=r.effective_events, rel_error=r.relative_error)


def verdicts(res: Results, slo: Slo) -> pd.DataFrame:
    """The verdict table of `slo.verdicts` for a weighted run."""
    _, weights, _ = _sessions(res)
    rows = []
    for name, (adverse, trials, known) in rate_parts(res).items():
        rows.append(_rate_row(name, adverse, trials, weights, known, getattr(slo, name), slo))
    for name, (values, groups) in _groups(res).items():
        rows.append(_quantile_row(name, values, groups, weights, getattr(slo, name), slo))
    table = pd.DataFrame(rows)
    table["confidence"] = slo.confidence
    table["decided_by"] = METHOD
    return table


def _rate_row(name, adverse, trials, weights, known, target, slo: Slo) -> dict:
    base = dict(slo=name, target=f">= {target:g}", n=int(trials.sum()))
    if trials.sum() == 0:
        return {**base, **_empty("no trials")}
    if target >= 1.0:  # zero tolerance: any violation the scenario can produce fails it
        seen = bool(((adverse > 0) & (weights > 0)).any())
        r = weighted.weighted_rate(adverse, trials, weights, known)
        return {
            **base,
            "status": "FAIL" if seen else "PASS",
            "estimate": 1 - r.estimate,
            "lower": math.nan,
            "upper": math.nan,
            "more_streams": None,
            "method": f"{METHOD}: zero tolerance (a violation seen under the tilt fails it)",
            **_diagnostics(r),
        }
    r = weighted.weighted_rate(adverse, trials, weights, known)
    limit = 1 - target  # the adverse rate may not exceed it
    lo, hi = r.bounds(slo.confidence, one_sided=True)
    status, more = "INCONCLUSIVE", None
    if r.degenerate:
        method = f"{METHOD}: no verdict, {r.degenerate}"
    else:
        status = "PASS" if hi <= limit else "FAIL" if lo > limit else "INCONCLUSIVE"
        method = f"{METHOD}: CLT bound on the weighted rate"
        if status == "INCONCLUSIVE":
            need = r.sessions_needed(limit, slo.confidence)
            more = None if need is None else need - r.sessions
    return {
        **base,
        "status": status,
        "estimate": 1 - r.estimate,
        "lower": 1 - hi,
        "upper": 1 - lo,
        "more_streams": more,
        "method": method,
        **_diagnostics(r),
    }


def _quantile_row(name, values, groups, weights, target, slo: Slo) -> dict:
    label = f"p{slo.quantile * 100:g} {name}"
    base = dict(slo=label, target=f"< {target:g}", n=len(values))
    if len(values) == 0:
        return {**base, **_empty("no samples (no disconnects)")}
    known = 1.0 if name == "buffer_bytes" else None  # one sample per session
    wq = weighted.weighted_quantile(values, groups, weights, slo.quantile, slo.confidence, known)
    status, r = "INCONCLUSIVE", wq.above_upper or wq.from_lower
    if wq.upper < target:  # NaN compares false: no (trusted) upper bound, no PASS
        status, r = "PASS", wq.above_upper
    elif wq.lower >= target:
        status, r = "FAIL", wq.from_lower
    method = f"{METHOD}: weighted exceedance bounds (CLT) inverted"
    dropped = [x for x in (wq.above_upper, wq.from_lower) if x is not None and x.degenerate]
    if status == "INCONCLUSIVE" and dropped:
        method += f"; a bound dropped: {dropped[0].degenerate}"
    return {
        **base,
        "status": status,
        "estimate": wq.estimate,
        "lower": wq.lower,
        "upper": wq.upper,
        "more_streams": None,
        "method": method,
        **(_diagnostics(r) if r is not None else {}),
    }


def _empty(why: str) -> dict:
    return dict(
        status="N/A",
        estimate=np.nan,
        lower=np.nan,
        upper=np.nan,
        more_streams=None,
        method=why,
        ess=np.nan,
        effective_events=np.nan,
        rel_error=np.nan,
    )


def estimates(res: Results, confidence: float = 0.95) -> pd.DataFrame:
    """Every rate and quantile of `slo.estimates`, weighted, with two-sided intervals and the
    effective sample size, effective adverse events and relative error beside each."""
    _, weights, _ = _sessions(res)
    rows = []
    for name, (adverse, trials, known) in rate_parts(res).items():
        if trials.sum() == 0:
            continue
        r = weighted.weighted_rate(adverse, trials, weights, known)
        lo, hi = r.bounds(confidence)
        rows.append(
            dict(
                measure=name,
                statistic="rate",
                n=int(trials.sum()),
                estimate=1 - r.estimate,
                lower=1 - hi,
                upper=1 - lo,
                method=METHOD + (f" ({r.degenerate})" if r.degenerate else ""),
                **_diagnostics(r),
            )
        )
    for name, (values, groups) in _groups(res).items():
        if len(values) == 0:
            continue
        known = 1.0 if name == "buffer_bytes" else None
        for q in crude.QUANTILES:
            two_sided = 1 - (1 - confidence) / 2
            wq = weighted.weighted_quantile(values, groups, weights, q, two_sided, known)
            rows.append(
                dict(
                    measure=name,
                    statistic=f"p{q * 100:g}",
                    n=len(values),
                    estimate=wq.estimate,
                    lower=wq.lower,
                    upper=wq.upper,
                    method=METHOD,
                    ess=weighted.kish_ess(weights),
                    effective_events=np.nan,
                    rel_error=np.nan,
                )
            )
    return pd.DataFrame(rows)
