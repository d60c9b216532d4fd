"""Reliability estimates and SLO verdicts from the stream and disconnect tables.

Conventions (stated in every report):
- A censored stream (still running at the horizon) counts as not completed.
- A disconnect that never reconnected, resumed or recovered has an infinite reconnect, resume or
  recovery time: it counts against the latency quantiles instead of being dropped. Exception: a
  resume cut short by the stream's next disconnect is left out of the resume times (that next
  disconnect carries the delay).
- Rate targets use one-sided Clopper-Pearson bounds at the SLO confidence. With sessions of several
  streams, completion is judged per session (conservative, valid under any within-session
  correlation; see `_clustered_completion_row`); recovery success still counts disconnects as
  independent and says so in its method. A target of 1 is zero
  tolerance: PASS while no violation is seen, FAIL at the first (the report also gives the upper
  bound on the violation rate that the clean sample supports).
- Latency and memory targets apply to one quantile, judged by distribution-free order-statistic
  bounds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model import stats
from model.config import Slo
from model.records import ERRORS
from model.simulation import Results

QUANTILES = (0.5, 0.9, 0.99, 0.999)
CRUDE = "crude MC"


def rate_counts(res: Results) -> dict[str, tuple[int, int]]:
    """(successes, trials) of every rate measure."""
    s, d = res.streams, res.disconnects
    completed = s[s.outcome == "completed"]
    failed = s[s.outcome == "failed"]
    handled = failed.error.isin(ERRORS) & np.isfinite(failed.buffer_released_by)
    intact = completed.integrity_ok & (completed.duplicates_delivered == 0)
    return {
        "completion_rate": (int((s.outcome == "completed").sum()), len(s)),
        "integrity_rate": (int(intact.sum()), len(completed)),
        "recovery_rate": (int((d.outcome == "recovered").sum()), len(d)),
        "timeout_handling_rate": (int(handled.sum()), len(failed)),
    }


def latency_samples(res: Results) -> dict[str, np.ndarray]:
    """Samples of every latency / memory measure, unrecovered disconnects as +inf."""
    d = res.disconnects
    # a resume cut short by the next disconnect is judged with that one, not as infinitely slow
    last = d.groupby("stream")["index"].transform("max") == d["index"]
    reconnected = d[np.isfinite(d.reconnect_time) & (d.resume_time.notna() | last)]
    return {
        "reconnect_time": d.reconnect_time.fillna(np.inf).to_numpy(),
        "resume_time": reconnected.resume_time.fillna(np.inf).to_numpy(),
        "recovery_time": d.recovery_time.fillna(np.inf).to_numpy(),
        # the server's memory: all of a session's buffers together, one sample per session
        "buffer_bytes": res.streams.groupby("session")
        .session_buffer_peak_bytes.first()
        .astype(float)
        .to_numpy(),
    }


def estimates(res: Results, confidence: float = 0.95) -> pd.DataFrame:
    """Every measure with a two-sided interval: rates (Wilson and Clopper-Pearson), quantiles
    (order statistics) and means (Student t). A weighted (importance-sampled) run gets the
    weighted estimators of `model.weighted_slo` instead."""
    from model import weighted_slo

    if weighted_slo.is_weighted(res):
        return weighted_slo.estimates(res, confidence)
    rows = []
    for name, (k, n) in rate_counts(res).items():
        if n == 0:
            rows.append(
                dict(
                    measure=name,
                    statistic="rate",
                    n=0,
                    estimate=np.nan,
                    lower=np.nan,
                    upper=np.nan,
                    method="no trials",
                )
            )
            continue
        for method, fn in (
            ("wilson", stats.wilson_interval),
            ("clopper-pearson", stats.clopper_pearson_interval),
        ):
            lo, hi = fn(k, n, confidence)
            rows.append(
                dict(
                    measure=name,
                    statistic="rate",
                    n=n,
                    estimate=k / n,
                    lower=lo,
                    upper=hi,
                    method=method,
                )
            )
    for name, sample in latency_samples(res).items():
        for q in QUANTILES:
            est, lo, hi = (
                stats.quantile_interval(sample, q, confidence) if len(sample) else (np.nan,) * 3
            )
            rows.append(
                dict(
                    measure=name,
                    statistic=f"p{q * 100:g}",
                    n=len(sample),
                    estimate=est,
                    lower=lo,
                    upper=hi,
                    method=stats.QUANTILE_METHOD,
                )
            )
        finite = sample[np.isfinite(sample)]
        est, lo, hi = stats.mean_interval(finite, confidence) if len(finite) else (np.nan,) * 3
        rows.append(
            dict(
                measure=name,
                statistic="mean (finite)",
                n=len(finite),
                estimate=est,
                lower=lo,
                upper=hi,
                method="student-t",
            )
        )
    return pd.DataFrame(rows)


def verdicts(res: Results, slo: Slo) -> pd.DataFrame:
    """One row per SLO: PASS / FAIL / INCONCLUSIVE, with the bounds and how many more streams; N/A
    when the measure had nothing to judge (no give-ups for timeout handling, no disconnects for
    the latencies): more streams of the same scenario would rarely change that. `decided_by`
    names the method: crude Monte Carlo here, importance sampling for a weighted run (its table
    comes from `model.weighted_slo`)."""
    from model import weighted_slo

    if weighted_slo.is_weighted(res):
        return weighted_slo.verdicts(res, slo)
    rows = []
    clustered = res.streams.session.nunique() < len(res.streams)  # sessions of several streams
    for name, (k, n) in rate_counts(res).items():
        target = getattr(slo, name)
        if clustered and name == "completion_rate" and target < 1:
            rows.append(_clustered_completion_row(res, target, slo.confidence))
        else:
            rows.append(_rate_row(name, k, n, target, slo.confidence))
    for name, sample in latency_samples(res).items():
        target = getattr(slo, name)
        label = f"p{slo.quantile * 100:g} {name}"
        if len(sample) == 0:
            rows.append(
                dict(
                    slo=label,
                    target=f"< {target:g}",
                    status="N/A",
                    estimate=np.nan,
                    lower=np.nan,
                    upper=np.nan,
                    n=0,
                    more_streams=None,
                    method="no samples (no disconnects)",
                )
            )
            continue
        v = stats.quantile_verdict(sample, slo.quantile, target, slo.confidence)
        rows.append(
            dict(
                slo=label,
                target=f"< {target:g}",
                status=v.status,
                estimate=v.estimate,
                lower=v.lower,
                upper=v.upper,
                n=len(sample),
                more_streams=v.more_streams,
                method=v.method,
            )
        )
    table = pd.DataFrame(rows)
    table["confidence"] = slo.confidence
    table["decided_by"] = CRUDE
    if clustered:
        naive = table.slo.isin(["recovery_rate"])
        table.loc[naive, "method"] += (
            " [disconnects of a session share its weather: the bound treats them as "
            "independent, so it is too narrow]"
        )
    return table


def _clustered_completion_row(res: Results, target: float, confidence: float) -> dict:
    """Completion judged with the session, not the stream, as the independent trial (streams of a
    session share their weather). Conservative but valid whatever the correlation within a session:
    P(a stream completes) >= P(its whole session completes), and P(a stream fails) >=
    P(its session has a failure) / (streams per session). So PASS if the lower bound on clean
    sessions meets the target; FAIL if even the best case for streams misses it."""
    s = res.streams
    clean = s.groupby("session").outcome.agg(lambda o: bool((o == "completed").all()))
    sessions, per_session = len(clean), s.groupby("session").size().max()
    lo, _ = stats.clopper_pearson_interval(int(clean.sum()), sessions, 2 * confidence - 1)
    fail_lo, _ = stats.clopper_pearson_interval(int((~clean).sum()), sessions, 2 * confidence - 1)
    upper = 1 - fail_lo / per_session
    status = "PASS" if lo >= target else "FAIL" if upper < target else "INCONCLUSIVE"
    return dict(
        slo="completion_rate",
        target=f">= {target:g}",
        n=len(s),
        status=status,
        estimate=float((s.outcome == "completed").mean()),
        lower=lo,
        upper=upper,
        more_streams=None,
        method=f"clustered by session ({sessions} sessions): conservative clopper-pearson",
    )


def _rate_row(name: str, k: int, n: int, target: float, confidence: float) -> dict:
    base = dict(slo=name, target=f">= {target:g}", n=n)
    if n == 0:
        return {
            **base,
            "status": "N/A",
            "estimate": np.nan,
            "lower": np.nan,
            "upper": np.nan,
            "more_streams": None,
            "method": "no trials",
        }
    if target >= 1.0:  # zero tolerance
        lo, _ = stats.clopper_pearson_interval(k, n, 2 * confidence - 1)  # one-sided lower at C
        return {
            **base,
            "status": "PASS" if k == n else "FAIL",
            "estimate": k / n,
            "lower": lo,
            "upper": k / n,
            "more_streams": None,
            "method": "zero tolerance (clopper-pearson lower bound shown)",
        }
    v = stats.rate_verdict(k, n, target, confidence)
    return {
        **base,
        "status": v.status,
        "estimate": v.estimate,
        "lower": v.lower,
        "upper": v.upper,
        "more_streams": v.more_streams,
        "method": v.method,
    }


def decided(table: pd.DataFrame) -> bool:
    """True when no verdict is INCONCLUSIVE (N/A counts as decided: there is nothing to decide)."""
    return not (table.status == "INCONCLUSIVE").any()
