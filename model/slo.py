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

from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Evidence:
    """What the estimates and verdicts are computed from, and nothing more: counts, sample sizes,
    moments, and a way to select order statistics of the latency samples. `evidence(res)` makes it
    from tables in memory; `model.aggregate` from a dataset on disk by streaming aggregation, so
    both give the same numbers through the same code."""

    streams: int
    sessions: int
    clean_sessions: int  # sessions whose every stream completed
    streams_per_session: int  # the most streams in one session
    rates: dict[str, tuple[int, int]]  # (successes, trials), as `rate_counts`
    sizes: dict[str, int]  # samples of each measure of `latency_samples`
    finite: dict[str, tuple[int, float, float]]  # (n, mean, sd with ddof=1) of the finite ones
    # {measure: [0-based ranks]} -> {(measure, rank): that order statistic of the measure}
    select: Callable[[dict[str, list[int]]], dict[tuple[str, int], float]]
    outcomes: dict[str, int]
    errors: dict[str, int]  # error of the failed streams -> count


def evidence(res: Results) -> Evidence:
    """The evidence in tables held in memory."""
    s = res.streams
    samples = latency_samples(res)
    ordered = {name: np.sort(x) for name, x in samples.items()}
    finite = {name: x[np.isfinite(x)] for name, x in samples.items()}  # summed in table order
    per_session = s.groupby("session").size()
    return Evidence(
        streams=len(s),
        sessions=len(per_session),
        clean_sessions=int((~(s.outcome != "completed").groupby(s.session).any()).sum()),
        streams_per_session=int(per_session.max()) if len(s) else 0,
        rates=rate_counts(res),
        sizes={name: len(x) for name, x in ordered.items()},
        finite={name: moments(x) for name, x in finite.items()},
        select=lambda wanted: {
            (m, k): float(ordered[m][k]) for m, ranks in wanted.items() for k in ranks
        },
        outcomes=s.outcome.value_counts().to_dict(),
        errors=s[s.outcome == "failed"].error.value_counts().to_dict(),
    )


def moments(x: np.ndarray) -> tuple[int, float, float]:
    """(n, mean, sd with ddof=1) of a sample (NaN where undefined)."""
    n = len(x)
    return n, float(x.mean()) if n else np.nan, float(x.std(ddof=1)) if n >= 2 else np.nan


def _evidence(res: Results | Evidence) -> Evidence:
    return res if isinstance(res, Evidence) else evidence(res)


def _order_statistics(ev: Evidence, ranks: dict[tuple, tuple]) -> dict[tuple, tuple]:
    """{key: (measure, ranks)} -> {key: the order statistics at those ranks (NaN for None)}."""
    wanted: dict[str, list[int]] = {}
    for measure, rs in ranks.values():
        wanted.setdefault(measure, []).extend(k for k in rs if k is not None)
    values = ev.select(wanted)
    return {
        key: tuple(np.nan if k is None else values[(m, k)] for k in rs)
        for key, (m, rs) in ranks.items()
    }


def estimates(res: Results | Evidence, confidence: float = 0.95) -> pd.DataFrame:
    """Every measure with a two-sided interval: rates (Wilson and Clopper-Pearson), quantiles
    (order statistics) and means (Student t). A weighted (importance-sampled) run gets the
    weighted estimators of `model.weighted_slo` instead."""
    from model import weighted_slo

    if weighted_slo.is_weighted(res):
        return weighted_slo.estimates(res, confidence)
    ev = _evidence(res)
    rows = []
    for name, (k, n) in ev.rates.items():
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
    intervals = _order_statistics(
        ev,
        {
            (name, q): (name, stats.quantile_interval_ranks(n, q, confidence))
            for name, n in ev.sizes.items()
            if n
            for q in QUANTILES
        },
    )
    for name, n in ev.sizes.items():
        for q in QUANTILES:
            est, lo, hi = intervals.get((name, q), (np.nan,) * 3)
            rows.append(
                dict(
                    measure=name,
                    statistic=f"p{q * 100:g}",
                    n=n,
                    estimate=est,
                    lower=lo,
                    upper=hi,
                    method=stats.QUANTILE_METHOD,
                )
            )
        finite, mean, sd = ev.finite[name]
        est, lo, hi = (
            stats.mean_interval_of(finite, mean, sd, confidence) if finite else (np.nan,) * 3
        )
        rows.append(
            dict(
                measure=name,
                statistic="mean (finite)",
                n=finite,
                estimate=est,
                lower=lo,
                upper=hi,
                method="student-t",
            )
        )
    return pd.DataFrame(rows)


def verdicts(res: Results | Evidence, slo: Slo) -> pd.DataFrame:
    """One row per SLO: PASS / FAIL / INCONCLUSIVE, with the bounds and how many more streams; N/A
    when the measure had nothing to judge (no give-ups for timeout handling, no disconnects for
    the latencies): more streams of the same scenario would rarely change that. `decided_by`
    names the method: crude Monte Carlo here, importance sampling for a weighted run (its table
    comes from `model.weighted_slo`)."""
    from model import weighted_slo

    if weighted_slo.is_weighted(res):
        return weighted_slo.verdicts(res, slo)
    ev = _evidence(res)
    rows = []
    clustered = ev.sessions < ev.streams  # sessions of several streams
    for name, (k, n) in ev.rates.items():
        target = getattr(slo, name)
        if clustered and name == "completion_rate" and target < 1:
            rows.append(_clustered_completion_row(ev, target, slo.confidence))
        else:
            rows.append(_rate_row(name, k, n, target, slo.confidence))
    bounds = _order_statistics(
        ev,
        {
            name: (name, stats.quantile_verdict_ranks(n, slo.quantile, slo.confidence))
            for name, n in ev.sizes.items()
            if n
        },
    )
    for name, n in ev.sizes.items():
        target = getattr(slo, name)
        label = f"p{slo.quantile * 100:g} {name}"
        if n == 0:
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
        v = stats.quantile_verdict_of(bounds[name], slo.quantile, target, slo.confidence)
        rows.append(
            dict(
                slo=label,
                target=f"< {target:g}",
                status=v.status,
                estimate=v.estimate,
                lower=v.lower,
                upper=v.upper,
                n=n,
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


def _clustered_completion_row(ev: Evidence, target: float, confidence: float) -> dict:
    """Completion judged with the session, not the stream, as the independent trial (streams of a
    session share their weather). Conservative but valid whatever the correlation within a session:
    P(a stream completes) >= P(its whole session completes), and P(a stream fails) >=
    P(its session has a failure) / (streams per session). So PASS if the lower bound on clean
    sessions meets the target; FAIL if even the best case for streams misses it. Undecided, the
    row names the streams a decision needs if sessions stay as clean as seen: whole sessions,
    since the session is the trial (with none failing, a PASS needs ln(1 - C) / ln(target) of
    them: 5,990 for 99.95 % at C = 0.95)."""
    sessions, clean, per = ev.sessions, ev.clean_sessions, ev.streams_per_session
    status, lo, upper = _clustered_status(clean, sessions, per, target, confidence)
    more = None  # the streams (whole sessions) a decision needs if sessions stay as clean as seen
    if status == "INCONCLUSIVE":

        def decided(extra: int) -> bool:
            n = sessions + extra
            c = stats.project_counts(clean, sessions, n)
            return _clustered_status(c, n, per, target, confidence)[0] != "INCONCLUSIVE"

        extra = stats.first_true(decided, 0, stats.MAX_EXTRA_TRIALS)
        more = None if extra is None else extra * per
    completed, streams = ev.rates["completion_rate"]
    return dict(
        slo="completion_rate",
        target=f">= {target:g}",
        n=streams,
        status=status,
        estimate=completed / streams,
        lower=lo,
        upper=upper,
        more_streams=more,
        method=f"clustered by session ({sessions} sessions): conservative clopper-pearson",
    )


def _clustered_status(clean: int, sessions: int, per: int, target: float, confidence: float):
    """(status, lower, upper) of the clustered completion rule (`_clustered_completion_row`)."""
    lo, _ = stats.clopper_pearson_interval(clean, sessions, 2 * confidence - 1)
    fail_lo, _ = stats.clopper_pearson_interval(sessions - clean, sessions, 2 * confidence - 1)
    upper = 1 - fail_lo / per
    return ("PASS" if lo >= target else "FAIL" if upper < target else "INCONCLUSIVE"), lo, upper


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
