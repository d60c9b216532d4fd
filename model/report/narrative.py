"""The report's computed text: readings of a scenario's tables, number formats, methods and
assumptions.

Every sentence about results is computed from the tables and verdicts of a `ScenarioRun`; the
methods paragraphs are fixed text (reportlab mini-HTML) that states the model's assumptions and
the statistics behind the verdicts.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

import numpy as np

from model import figures, slo
from model.report.running import MULTI_STREAM_BUDGET_STREAMS, SINGLE_STREAM_BUDGET, ScenarioRun

SLO_SHORT = {
    "completion_rate": "completion",
    "integrity_rate": "integrity",
    "recovery_rate": "recovery",
    "timeout_handling_rate": "timeout handling",
    "buffer_bytes": "memory",
}


def _short_slo(name: str) -> str:
    """Column label for the verdict matrix: 'p99 recovery_time' -> 'p99 recovery'."""
    if " " in name:
        q, measure = name.split(" ", 1)
        return f"{q} {SLO_SHORT.get(measure, measure.removesuffix('_time'))}"
    return SLO_SHORT.get(name, name)


def _pct(x: float) -> str:
    return figures._pct(x)


def _num(x, digits: int = 5) -> str:
    """Like the CLI's %.5g; NaN and None as '-'."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}" if abs(int(x)) >= 10_000 else str(int(x))
    return f"{float(x):.{digits}g}"


def reading(run: ScenarioRun) -> list[str]:
    """Short computed sentences about a scenario's results."""
    s, d, cfg = run.results.streams, run.results.disconnects, run.cfg
    n, out = len(s), []
    done = int((s.outcome == "completed").sum())
    failed = s[s.outcome == "failed"]
    censored = int((s.outcome == "censored").sum())
    unit = (
        ""
        if cfg.session.streams == 1
        else f" in {run.sessions:,} sessions of {cfg.session.streams}"
    )
    text = f"{done:,} of {n:,} streams{unit} completed ({_pct(done / n)})"
    extra = []
    if len(failed):
        extra.append(
            ", ".join(f"{v:,} failed with {k}" for k, v in failed.error.value_counts().items())
        )
    if censored:
        extra.append(f"{censored:,} were still running at the {cfg.horizon:g} s horizon (censored)")
    out.append(text + ("; " + "; ".join(extra) if extra else "") + ".")
    completed = s[s.outcome == "completed"]
    if len(completed):
        intact = int((completed.integrity_ok & (completed.duplicates_delivered == 0)).sum())
        ct = completed.completion_time.astype(float) - completed.start_time.astype(float)
        out.append(
            f"{intact:,} of the {len(completed):,} completed responses were intact (hash equal, "
            f"no duplicate delivered); the median stream took {ct.median():.1f} s from request to "
            f"last frame (p99 {ct.quantile(0.99):.1f} s)."
        )
    if len(d):
        causes = d.cause.value_counts(normalize=True)
        out.append(
            f"{len(d):,} disconnects ({len(d) / n:.2f} per stream): "
            + ", ".join(f"{k.replace('_', '-')} {_pct(v)}" for k, v in causes.items())
            + "."
        )
        heartbeat = d[d.detected_by == "heartbeat"]
        if len(heartbeat):
            out.append(
                f"{len(heartbeat):,} {'was' if len(heartbeat) == 1 else 'were'} noticed only by "
                f"the heartbeat, a median {heartbeat.detection_delay.median():.1f} s after the "
                f"break (ping every {cfg.client.ping_interval:g} s, timeout "
                f"{cfg.client.ping_timeout:g} s)."
            )
        samples = slo.latency_samples(run.results)
        rec = samples["recovery_time"]
        target, q = cfg.slo.recovery_time, cfg.slo.quantile
        row = run.estimates[
            (run.estimates.measure == "recovery_time")
            & (run.estimates.statistic == f"p{q * 100:g}")
        ]
        ci = ""
        if len(row) and np.isfinite(row.lower.iloc[0]):
            up = row.upper.iloc[0]
            ci = (
                f" ({cfg.slo.confidence:.0%} interval {row.lower.iloc[0]:.3g} to {up:.3g} s)"
                if np.isfinite(up)
                else f" (at least {row.lower.iloc[0]:.3g} s at {cfg.slo.confidence:.0%})"
            )
        out.append(
            f"{_pct(float(np.mean(rec < target)))} of recoveries took under {target:g} s; the "
            f"median took {figures._seconds(float(np.median(rec)))} and the p{q * 100:g} "
            f"{figures._seconds(float(np.quantile(rec, q, method='inverted_cdf')))}{ci}."
        )
        first = float(((d.attempts == 1) & (d.outcome == "recovered")).mean())
        out.append(
            f"{_pct(first)} of disconnects were back on the first connection attempt; the worst "
            f"needed {int(d.attempts.max())} attempts and waited {d.backoff_wait.max():.1f} s in "
            "backoff."
        )
        replayed, missing = int(d.bytes_replayed.sum()), int(d.bytes_missing.sum())
        if missing > 0:
            out.append(
                f"Resumes replayed {figures._bytes(replayed)} for {figures._bytes(missing)} the "
                f"clients were missing ({replayed / missing:.2f} bytes sent per byte needed)."
            )
        dups = int(s.duplicates_received.sum())
        if dups:
            out.append(
                f"Clients dropped {dups:,} duplicate frames; "
                f"{int(s.duplicates_delivered.sum()):,} reached an application."
            )
    else:
        out.append(
            "No stream was disconnected, so the recovery, reconnect and resume measures have no "
            "samples (their verdicts are N/A)."
        )
    stalls = int(s.stalls_absorbed.sum())
    if stalls:
        out.append(
            f"{stalls:,} outages hit a stream without breaking its connection (silent outages "
            "shorter than the heartbeat became stalls); they delay frames but are not "
            "disconnects."
        )
    peaks = s.groupby("session").session_buffer_peak_bytes.first().astype(float)
    what = (
        "per stream"
        if cfg.session.streams == 1
        else f"per session of {cfg.session.streams} streams"
    )
    out.append(
        f"Server replay-buffer peak {what}: median {figures._bytes(peaks.median())}, maximum "
        f"{figures._bytes(peaks.max())}, against a target of "
        f"{figures._bytes(cfg.slo.buffer_bytes)} at p{cfg.slo.quantile * 100:g}."
    )
    if len(failed):
        released = np.isfinite(failed.buffer_released_by.astype(float))
        out.append(
            f"Every failed stream ended with a typed error; {int(released.sum()):,} of "
            f"{len(failed):,} had their server buffer released (by "
            f"{failed.buffer_released_by.astype(float)[released].max():.0f} s at the latest)."
            if released.any()
            else f"{len(failed):,} failed streams still hold their server buffer."
        )
    v = run.verdicts
    counts = v.status.value_counts()
    text = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("PASS", "FAIL", "INCONCLUSIVE", "N/A"))
    more = v[(v.status == "INCONCLUSIVE") & v.more_streams.notna()]
    if len(more):
        text += "; if the observed rates hold, " + "; ".join(
            f"{r.slo} would be decided after about {int(r.more_streams):,} more "
            f"{'streams' if r.slo != 'recovery_rate' else 'disconnects'}"
            for r in more.itertuples()
        )
    out.append(f"Verdicts: {text}.")
    return out


def _sizes_paragraph(runs: list[ScenarioRun], meta: dict) -> str:
    """The methods paragraph on how many sessions each scenario ran, and why."""
    sizes = "; ".join(
        f"{escape(r.name)} {r.sessions:,}"
        + (f" of {r.cfg.session.streams}" if r.cfg.session.streams > 1 else "")
        for r in runs
    )
    text = (
        "<b>Sample sizes.</b> Sessions simulated per scenario (streams per session where more "
        f"than one): {sizes}. Mode: {escape(meta['mode_text'])}. "
    )
    if runs[0].mode == "demonstrate":
        text += (
            "Each scenario ran the sessions and disconnects with which zero failures would PASS "
            "its completion and recovery targets (the success-run sizes n = ln(1-C)/ln(target)), "
            "further batches being sized from the disconnect rate seen so far, within a budget "
            f"of {SINGLE_STREAM_BUDGET:,} sessions (single-stream) or "
            f"{MULTI_STREAM_BUDGET_STREAMS:,} streams' worth and at least the 299 sessions a p99 "
            "memory verdict needs (multi-stream; their completion, judged per session, can then "
            "FAIL but not PASS). The stopping rule counts trials, never their outcomes, so every "
            "verdict is judged once at the stated confidence. "
        )
    few = [r.name for r in runs if r.sessions < 299]
    if few:
        text += (
            f"With fewer than 299 sessions ({escape(', '.join(few))}) the p99 memory target, "
            "judged once per session, cannot PASS whatever the data: run those scenarios with "
            "more sessions (or --until-decided) to decide it."
        )
    return text


METHODS_MODEL = [
    "<b>Engine.</b> Frames are computed in arrays between protocol events (departures, loss, "
    "retransmission, jitter and head-of-line delay as recurrences; the generation schedule in "
    "advance), about 50 events per 1,000-frame stream. A per-frame reference engine (one event "
    "per frame per hop, scalar code) gives identical tables on deterministic schedules and "
    "statistically indistinguishable ones on random scenarios (tests/test_engines.py).",
    "<b>Units and determinism.</b> Time is in seconds and sizes in bytes. One root seed feeds a "
    "tree of independent random generators, one per (stream, component), so a stream's history "
    "depends only on the seed and its index: adding streams or workers never changes earlier "
    "rows, and scenarios run with one seed see the same weather (common random numbers).",
    "<b>Network.</b> The condition (stable, unstable, poor) follows a continuous-time Markov "
    "chain with exponential sojourns; each condition sets loss, jitter and a disconnect rate. The "
    "preset values are assumptions meant to resemble wired broadband, busy Wi-Fi and congested "
    "mobile. Disconnects arrive as a Poisson process at the current condition's rate (scaled by "
    "disconnects.rate_scale), keep arriving while the client reconnects, and come in three kinds: "
    "a clean close (both ends know at once), a reset (known about one round trip later) and a "
    "silent half-open link. Each is followed by an outage (exponential, mean 1.5 s by default) in "
    "which packets are dropped and connection attempts fail.",
    "<b>Link.</b> A WebSocket over TCP: frames are serialised at the bandwidth in FIFO order; a "
    "lost transmission is resent as Linux does: as soon as a frame sent after it is acknowledged "
    "(SACK/RACK fast retransmit), otherwise after the RFC 6298 retransmission timeout (floor 0.2 "
    "s as on Linux, doubling to 120 s, 15 retries; one timer per connection, so everything "
    "outstanding follows the first timeout retransmission that gets through). Loss shows up as "
    "delay and head-of-line blocking, never as a missing frame. Loss is Bernoulli or bursty "
    "(Gilbert-Elliott). A short silent outage becomes a stall the connection survives; a long one "
    "can outlast the heartbeat. TCP flow and congestion control are not modelled, and "
    "retransmissions take no extra bandwidth.",
    "<b>Server.</b> Frames are generated from the request's arrival at a fixed gap (50 frames/s "
    "by default). The replay buffer holds generated, unacknowledged frames, trimmed by cumulative "
    "acks; when full it blocks generation or evicts the oldest frames. After a break the buffer "
    "is kept for the retention time (120 s) and then freed unless the stream came back; a resume "
    "from a position no longer held is refused (resume_window_exceeded). Restart discards the "
    "buffer and generates the same response again.",
    "<b>Client.</b> Takes in arrived frames at protocol moments (acks, heartbeat checks, breaks), "
    "drops duplicates, treats a sequence gap as a protocol error and checks the response hash on "
    "completion. It notices a close at once, a reset after one round trip and a silent failure "
    "only when a heartbeat pong is late. It reconnects with a backoff policy (exponential with "
    "none, full, equal or decorrelated jitter, a cap, a maximum number of attempts and an overall "
    "deadline, ending in network_timeout); a reconnect's auth check can fail (auth_failure, not "
    "retried).",
    "<b>Measurement.</b> The recorder sees what the client cannot: recovery is judged against the "
    "frames the server had generated at the break, and server memory is traced at every server "
    "event, which is exact for its peak. A stream still running at the horizon is censored and "
    "counts as not completed; an unrecovered disconnect counts as infinitely slow.",
]

METHODS_STATS = [
    "<b>Rare events: importance sampling</b> (`--tilt`). The network weather (condition changes, "
    "disconnects with their kinds and outage lengths) is drawn before a session runs, from known "
    "laws, so its probability density is known exactly. With a tilt, sessions are simulated under "
    "a harsher weather (disconnects more often, longer outages; chosen by hand or by the "
    "cross-entropy method from a small pilot) and each is weighted by the likelihood ratio of its "
    "weather, real over harsh, up to the session's end. Failures become common, and the weights "
    "undo the exaggeration exactly: a weighted average estimates the real failure rate without "
    "bias, with an interval from the central limit theorem over sessions (the session is the "
    "independent unit). Beside each estimate stand its relative error and its effective sample "
    "size; when fewer than 30 effective failures carry an estimate the weights are called "
    "degenerate and give no verdict. Percentile targets are judged through the weighted "
    "probability of exceeding the target. A scenario's verdicts are first judged by plain "
    "(crude) Monte Carlo; importance sampling then decides the rate verdicts left open, as one "
    "more look of the Bonferroni schedule, and the verdict table names the method that decided "
    "each (MC or IS).",
    "<b>Rates</b> (completion, integrity, recovery, timeout handling) are judged with one-sided "
    "Clopper-Pearson (exact binomial) bounds at the SLO confidence C: PASS if the lower bound "
    "reaches the target, FAIL if the upper bound is below it, INCONCLUSIVE otherwise. Together "
    "the two bounds form a two-sided 2C-1 interval. For an inconclusive rate, the extra trials "
    "needed are found by projecting the observed rate to larger samples. With sessions of several "
    "streams, completion is judged per session: PASS if the lower bound on fully completed "
    "sessions reaches the target (a stream completes at least as often as its whole session), "
    "FAIL if even one failed stream per failing session would miss it.",
    "<b>Zero tolerance.</b> A target of 1 (integrity, timeout handling) cannot be demonstrated by "
    "any finite sample; it PASSes while no violation is seen and FAILs at the first. The reported "
    "lower bound (one-sided Clopper-Pearson at C) is the smallest success rate consistent with "
    "the clean sample.",
    "<b>Quantiles</b> (p99 reconnect, resume and recovery time, p99 server memory) are judged "
    "with distribution-free order-statistic bounds: the upper bound is the smallest order "
    "statistic whose rank makes P(X(k) &lt; x_q) at most 1-C, and likewise below. PASS if the "
    "upper bound is under the target, FAIL if the lower bound is at or above it. With too few "
    "samples (0.99^n &gt; 1-C, i.e. fewer than 299 at 95 %) there is no upper bound, so a p99 "
    "target cannot PASS. Unrecovered disconnects enter as infinite times. Memory is one sample "
    "per session (all of its streams' buffers together).",
    "<b>Demonstration sizes</b> (the default). Each scenario runs the success-run sizes n = "
    "ln(1-C)/ln(target) that let zero failures PASS its rate targets: 5,990 sessions for 99.95 % "
    "completion and, through further batches sized from the disconnect rate seen so far, 2,995 "
    "disconnects for 99.9 % recovery, within a budget. The rule stops on counts of trials, never "
    "on their outcomes, so each verdict is judged once at the stated confidence (a weak link "
    "remains: a stream that recovers slowly lives longer and meets more disconnects).",
    "<b>Sequential looks</b> (until-decided mode). Batches double from a first batch up to a "
    "budget, with the number of looks fixed in advance; each look judges at the "
    "Bonferroni-corrected confidence 1-(1-C)/L, so stopping at the first look where every verdict "
    "is decided keeps the overall error at most 1-C whatever the dependence between looks, at the "
    "price of wider intervals at each look.",
    "<b>Estimates tables</b> show two-sided C-level intervals (Clopper-Pearson for rates, order "
    "statistics for quantiles, Student t for the mean of the finite values); they describe the "
    "data and are not the decision rule.",
]
