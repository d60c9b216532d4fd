"""Figures of simulated streams: each function returns a matplotlib `Figure` with a caption.

Every function builds its own `matplotlib.figure.Figure` (no pyplot, so nothing is left open in a
global figure registry) with labelled axes and units, and attaches a short caption computed from the
data as `fig.caption`. Inputs are the tidy tables (`Results.streams`, `Results.disconnects`, a sweep
table) or, for one stream or one session, the records `model.simulation.stream_timeline` and
`model.simulation.session_record` hand over (never the engine's objects).

    from model import figures
    fig = figures.recovery_cdf(res.disconnects, cfg.slo)
    fig.savefig("recovery.png", dpi=200); print(fig.caption)

In a notebook, `%matplotlib inline` (or `display(fig)`) shows a returned figure.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from model.config import CONDITIONS, Scenario, Slo
from model.records import NetworkRecord, SessionRecord, StreamTimeline

__all__ = [
    "recovery_cdf",
    "completion_vs_disconnect_rate",
    "stream_timeline",
    "buffer_memory",
    "attempts_histogram",
    "error_breakdown",
    "conditions_throughput",
    "pick_stream",
    "tune_frontier",
    "png_bytes",
    "FULL",
    "HALF",
]

FULL = (7.0, 3.0)  # inches: a full-width figure
HALF = (3.5, 2.8)  # inches: half of a row

STATE_COLOURS = {
    "connecting": "#9ecae1",
    "streaming": "#31a354",
    "disconnected": "#de2d26",
    "backing_off": "#fdae6b",
    "resuming": "#756bb1",
    "completed": "#bdbdbd",
    "failed": "#636363",
}
CONDITION_COLOURS = {"stable": "#c7e9c0", "unstable": "#fdd0a2", "poor": "#fcbba1"}
STRATEGY_COLOURS = {"resume": "#2171b5", "restart": "#cb181d"}


# ---------------------------------------------------------------- helpers


def _figure(size=FULL, rows: int = 1, height_ratios=None, sharex: bool = False):
    fig = Figure(figsize=size, layout="constrained")
    if rows == 1:
        return fig, fig.add_subplot()
    axes = fig.subplots(
        rows,
        1,
        sharex=sharex,
        gridspec_kw={"height_ratios": height_ratios} if height_ratios else None,
    )
    return fig, axes


def _finish(fig: Figure, caption: str) -> Figure:
    fig.caption = caption
    return fig


def _pct(x: float) -> str:
    """A percentage with as many decimals as it needs (99.95 %, 92 %, 0.4 %)."""
    if not np.isfinite(x):
        return "-"
    p = 100 * x
    if p in (0, 100) or 1 <= p <= 99 and abs(p - round(p)) < 0.05:
        return f"{p:.0f} %"
    if 0.1 <= p <= 99.9:
        return f"{p:.1f} %"
    if p < 1:
        return f"{p:.2g} %"
    digits = 2
    while round(p, digits) >= 100 and digits < 8:  # 99.9996 % must not print as 100.00 %
        digits += 1
    return f"{p:.{digits}f} %"


def _seconds(x: float) -> str:
    if not np.isfinite(x):
        return "never"
    return f"{x:.2g} s" if x < 1 else f"{x:.3g} s"


def _bytes(x: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(x) >= size:
            return f"{x / size:.3g} {unit}"
    return f"{x:.0f} B"


def _times(series: pd.Series) -> np.ndarray:
    """Latencies with the not-reached ones (NaN) as +inf, as the SLO verdicts count them."""
    return series.fillna(np.inf).to_numpy()


def png_bytes(fig: Figure, dpi: int = 200) -> bytes:
    """The figure as PNG bytes (for reports)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


# ---------------------------------------------------------------- distributions over many streams


def recovery_cdf(disconnects: pd.DataFrame, slo: Slo, name: str = "") -> Figure:
    """Empirical CDF of recovery time (and reconnect time) over all disconnects, with the SLO
    target.

    Unrecovered disconnects count as infinitely slow, so the curve tops out at the recovered
    share."""
    fig, ax = _figure()
    rec, con = _times(disconnects.recovery_time), _times(disconnects.reconnect_time)
    n = len(rec)
    target, q = slo.recovery_time, slo.quantile
    if n == 0:
        ax.text(0.5, 0.5, "no disconnects", ha="center", va="center", transform=ax.transAxes)
        ax.set(xlabel="time after the break (s)", ylabel="fraction of disconnects")
        return _finish(
            fig,
            f"{name + ': ' if name else ''}no disconnect happened, so there is no recovery time "
            "to show.",
        )
    for sample, label, style in (
        (con, "reconnect time (break to connected)", dict(color="#9ecae1", lw=1.2)),
        (rec, "recovery time (break to caught up)", dict(color="#08519c", lw=1.8)),
    ):
        finite = np.sort(sample[np.isfinite(sample)])
        if len(finite):
            y = np.arange(1, len(finite) + 1) / n
            ax.step(
                np.concatenate([[0.0], finite]),
                np.concatenate([[0.0], y]),
                where="post",
                label=label,
                **style,
            )
    ax.axvline(
        target, color="#cb181d", ls="--", lw=1.2, label=f"SLO: p{q * 100:g} recovery < {target:g} s"
    )
    ax.axhline(q, color="#cb181d", ls=":", lw=1.0)
    positive = rec[np.isfinite(rec) & (rec > 0)]
    if len(positive) and positive.max() / max(positive.min(), 1e-9) > 200:
        ax.set_xscale("log")
    ax.set(
        xlabel="time after the break (s)",
        ylabel="fraction of disconnects",
        ylim=(0, 1.02),
        title=f"Recovery time, {n:,} disconnects" + (f" ({name})" if name else ""),
    )
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(alpha=0.3)
    within = float(np.mean(rec < target))
    finite = rec[np.isfinite(rec)]
    qv = float(np.quantile(rec, q, method="inverted_cdf"))
    cap = (
        f"{_pct(within)} of {n:,} recoveries took under {target:g} s (the SLO target, dashed; the "
        f"dotted line is the p{q * 100:g} level); the median was "
        f"{_seconds(float(np.median(rec)))} and the p{q * 100:g} {_seconds(qv)}."
    )
    if len(finite) < n:
        cap += (
            f" {n - len(finite):,} never recovered and count as infinitely slow, so the curve "
            f"stops at {_pct(len(finite) / n)}."
        )
    return _finish(fig, cap)


def attempts_histogram(disconnects: pd.DataFrame, name: str = "") -> Figure:
    """Connection attempts per disconnect, split by whether the disconnect ended recovered."""
    fig, ax = _figure(HALF)
    if len(disconnects) == 0:
        ax.text(0.5, 0.5, "no disconnects", ha="center", va="center", transform=ax.transAxes)
        ax.set(xlabel="connection attempts", ylabel="disconnects")
        return _finish(fig, "No disconnect happened, so no reconnect attempts.")
    a = disconnects.attempts
    ok = disconnects.outcome == "recovered"
    top = int(a.max())
    k = np.arange(min(1, int(a.min())), top + 1)
    rec = np.array([(a[ok] == i).sum() for i in k])
    bad = np.array([(a[~ok] == i).sum() for i in k])
    ax.bar(k, rec, color="#2171b5", label="recovered")
    ax.bar(k, bad, bottom=rec, color="#cb181d", label="not recovered")
    ax.set(
        xlabel="connection attempts per disconnect",
        ylabel="disconnects",
        title="Reconnect attempts" + (f" ({name})" if name else ""),
    )
    ax.set_xticks(k if top <= 12 else np.linspace(0, top, 7).round().astype(int))
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3, axis="y")
    first = float(((a == 1) & ok).mean())
    cap = (
        f"{_pct(first)} of {len(a):,} disconnects recovered on the first attempt; the most "
        f"attempts any needed was {top} (mean {a.mean():.2f})."
    )
    if (~ok).any():
        cap += f" {int((~ok).sum()):,} did not recover (red)."
    return _finish(fig, cap)


def error_breakdown(streams: pd.DataFrame, name: str = "") -> Figure:
    """How every stream ended: completed, censored at the horizon, or failed with each error
    kind."""
    fig, ax = _figure(HALF)
    labels = ["completed", "censored"] + [
        f"failed: {e}" for e in sorted(streams.loc[streams.outcome == "failed", "error"].unique())
    ]
    counts = [
        int((streams.outcome == "completed").sum()),
        int((streams.outcome == "censored").sum()),
    ]
    counts += [
        int(((streams.outcome == "failed") & (streams.error == lab.split(": ")[1])).sum())
        for lab in labels[2:]
    ]
    n = len(streams)
    colours = ["#31a354", "#fdae6b"] + ["#cb181d"] * (len(labels) - 2)
    y = np.arange(len(labels))[::-1]
    ax.barh(y, counts, color=colours)
    nonzero = [c for c in counts if c > 0]
    if nonzero and max(nonzero) / min(nonzero) > 50:
        ax.set_xscale("log")
        ax.set_xlim(0.8, max(nonzero) * 8)
    else:
        ax.set_xlim(0, max(counts + [1]) * 1.35)
    for yi, c in zip(y, counts):
        ax.text(
            c if c > 0 else ax.get_xlim()[0],
            yi,
            f" {c:,} ({_pct(c / n) if n else '-'})",
            va="center",
            fontsize="small",
        )
    ax.set_yticks(y, labels, fontsize="small")
    ax.set(xlabel="streams", title="Stream outcomes" + (f" ({name})" if name else ""))
    failed = streams.outcome == "failed"
    cap = (
        f"Of {n:,} streams, {counts[0]:,} completed ({_pct(counts[0] / n) if n else '-'}), "
        f"{counts[1]:,} were censored (still running at the horizon)"
    )
    if failed.any():
        kinds = streams[failed].error.value_counts()
        cap += " and " + ", ".join(f"{v:,} failed with {k}" for k, v in kinds.items()) + "."
    else:
        cap += " and none failed."
    return _finish(fig, cap)


def completion_vs_disconnect_rate(
    sweep_streams: pd.DataFrame,
    rate_path: str,
    cfg: Scenario | None = None,
    strategy_path: str = "client.strategy",
    confidence: float = 0.95,
) -> Figure:
    """Completion rate against the disconnect rate, one line per strategy, with Clopper-Pearson
    bands (left), and the median time to complete of the streams that did, with order-statistic
    bands (right).

    `sweep_streams` is the stream table of `runner.sweep(cfg, {rate_path: [...], strategy_path:
    [...]})`. `rate_path` is `disconnects.rate_scale` (plotted as disconnects per minute in the
    scenario's initial condition when `cfg` is given) or a condition's `disconnect_rate` (1/s,
    plotted per minute)."""
    from model.stats import clopper_pearson_interval, quantile_interval

    fig = Figure(figsize=(7.0, 3.0), layout="constrained")
    ax, tax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    df = sweep_streams.copy()
    df["_rate"] = df[rate_path].astype(float)
    if rate_path == "disconnects.rate_scale" and cfg is not None:
        base = cfg.network.condition(cfg.network.initial).disconnect_rate * 60
        df["_x"], xlabel = df["_rate"] * base, f"disconnects per minute (`{cfg.network.initial}`)"
    elif rate_path == "disconnects.rate_scale":
        df["_x"], xlabel = df["_rate"], "disconnect rate multiplier (x)"
    else:
        scale = cfg.disconnects.rate_scale if cfg is not None else 1.0
        df["_x"], xlabel = (
            df["_rate"] * 60 * scale,
            f"disconnects per minute (`{rate_path.split('.')[1]}`)",
        )
    df["_t"] = df.completion_time - df.start_time
    if strategy_path not in df:
        df[strategy_path] = "(one strategy)"
    lines = {}
    for strategy in df[strategy_path].unique():
        part = df[df[strategy_path] == strategy]
        rows = []
        for x, g in part.groupby("_x", sort=True):
            k, n = int((g.outcome == "completed").sum()), len(g)
            lo, hi = clopper_pearson_interval(k, n, confidence)
            t = g._t[g.outcome == "completed"].to_numpy()
            med = quantile_interval(t, 0.5, confidence) if len(t) else (np.nan,) * 3
            rows.append((x, k / n, lo, hi, *med))
        xs, est, lo, hi, tm, tlo, thi = map(np.array, zip(*rows))
        colour = STRATEGY_COLOURS.get(strategy)
        (line,) = ax.plot(xs, est, "o-", color=colour, label=str(strategy), ms=4)
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
        tax.plot(xs, tm, "o-", color=line.get_color(), ms=4, label=str(strategy))
        tax.fill_between(
            xs,
            np.where(np.isfinite(tlo), tlo, tm),
            np.where(np.isfinite(thi), thi, tm),
            color=line.get_color(),
            alpha=0.2,
            lw=0,
        )
        lines[strategy] = (xs, est, tm)
    for a in (ax, tax):
        if df["_x"].min() > 0 and df["_x"].max() / df["_x"].min() >= 8:
            a.set_xscale("log")
        a.grid(alpha=0.3)
        a.set_xlabel(xlabel, fontsize="small")
    ax.set(
        ylabel="completion rate",
        ylim=(-0.02, 1.02),
        title=f"Streams completed ({confidence:.0%} bands)",
    )
    tax.set(ylabel="median time to complete (s)", title="Median time to complete")
    tax.set_ylim(bottom=0)
    ax.legend(title=strategy_path.split(".")[-1], fontsize="small")
    per = df.groupby(["_x", strategy_path]).size()
    cap = (
        f"Left: share of streams that completed at each disconnect rate ({int(per.min()):,} "
        f"streams per point; bands: two-sided {confidence:.0%} Clopper-Pearson intervals). Right: "
        "median request-to-last-frame time of the streams that completed (bands: order-statistic "
        "intervals)."
    )
    if {"resume", "restart"} <= set(lines):
        (xr, er, tr), (_, es, ts) = lines["resume"], lines["restart"]
        gap = er - es
        i = int(np.argmax(gap))
        if gap[i] > 0:
            cap += (
                f" The widest completion gap is at {xr[i]:.3g} disconnects/min: {_pct(er[i])} "
                f"resumed against {_pct(es[i])} restarted."
            )
        else:
            cap += " Resume and restart complete the same share at every rate tried."
        j = len(xr) - 1
        if np.isfinite(tr[j]) and np.isfinite(ts[j]):
            cap += (
                f" At {xr[j]:.3g}/min the median completed stream took {tr[j]:.1f} s resumed and "
                f"{ts[j]:.1f} s restarted."
            )
    return _finish(fig, cap)


# ---------------------------------------------------------------- one stream, one session


def pick_stream(
    disconnects: pd.DataFrame,
    min_attempts: int = 2,
    streams: pd.DataFrame | None = None,
    after: float = 3.0,
) -> int | None:
    """A stream worth a timeline: the first whose single disconnect came at least `after` seconds
    into the stream (start times from `streams`, else 0) and recovered after at least `min_attempts`
    attempts; failing that, relaxed step by step; None without disconnects."""
    if len(disconnects) == 0:
        return None
    d = disconnects
    start = d.stream.map(streams.set_index("stream").start_time) if streams is not None else 0.0
    single = d.groupby("stream")["index"].transform("size") == 1
    recovered = d.outcome == "recovered"
    late = (d.time - start) >= after
    for mask in (
        single & recovered & late & (d.attempts >= min_attempts),
        recovered & late & (d.attempts >= min_attempts),
        recovered & (d.attempts >= min_attempts),
        recovered,
        d.attempts >= 0,
    ):
        if mask.any():
            return int(d[mask].stream.iloc[0])
    return None


def _shade_outages(ax, network: NetworkRecord, t0: float, t1: float, label: bool = True) -> int:
    shown = 0
    for ev in network.events:
        if ev.time > t1 or ev.time + ev.outage < t0:
            continue
        ax.axvspan(
            ev.time,
            max(ev.time + ev.outage, ev.time + 1e-3),
            color="#bdbdbd",
            alpha=0.5,
            lw=0,
            label="outage" if label and not shown else None,
        )
        shown += 1
    return shown


def stream_timeline(timeline: StreamTimeline, cfg: Scenario) -> Figure:
    """Frames generated and delivered over time for one stream, with its disconnects, outages,
    reconnect attempts, resume and catch-up, and the client's connection state underneath.

    `timeline` is `model.simulation.stream_timeline(cfg, seed, stream)`."""
    fig, (ax, band) = _figure((7.0, 4.2), rows=2, height_ratios=[4, 1], sharex=True)
    c = timeline.record
    end, t0 = c.end_time, c.start_time
    g = timeline.generated
    if len(g):
        ax.plot(g, np.arange(len(g)), color="#636363", lw=1.2, label="generated by the server")
    arrived = timeline.arrivals
    t, q, conn = arrived.times, arrived.seqs, arrived.connection
    palette = ["#2171b5", "#6a51a3", "#238b45", "#d94801", "#ce1256"]
    for i in np.unique(conn):
        m = conn == i
        ax.plot(
            t[m],
            q[m],
            ".",
            ms=1.5,
            color=palette[int(i) % len(palette)],
            label="arrived at the client"
            + (f" (connection {i + 1})" if len(np.unique(conn)) > 1 else ""),
        )
    _shade_outages(ax, timeline.network, t0, end)
    for j, r in enumerate(c.disconnect_log):
        ax.axvline(r.time, color="#cb181d", lw=1, ls="--", label="break" if j == 0 else None)
        for when, marker, label in (
            (r.detected_at, "v", "detected"),
            (r.connected_at, "^", "reconnected"),
            (r.resumed_at, "D", "first new frame"),
            (r.recovered_at, "*", "caught up"),
        ):
            if math.isfinite(when):
                y = r.generated_at_break
                ax.plot(
                    [when],
                    [y],
                    marker,
                    color="black",
                    ms=6 if marker != "*" else 9,
                    mfc="white" if marker != "*" else "gold",
                    label=label if j == 0 else None,
                    ls="none",
                )
    ax.set(ylabel="frame number", title=f"Stream {timeline.stream}: frames over time")
    ax.legend(loc="upper left", fontsize="x-small", ncols=2)
    ax.grid(alpha=0.3)
    # connection state band; an attempt starts at every `connecting` after a break
    log = [*c.log, (end, "")]
    present = []
    for (a, state), (b, _) in zip(log[:-1], log[1:]):
        if state in ("completed", "failed"):
            b = max(b, end)
        band.broken_barh([(a, max(b - a, 1e-3))], (0, 1), color=STATE_COLOURS.get(state, "white"))
        if state not in present:
            present.append(state)
    attempts = [a for (a, state) in c.log if state == "connecting"][1:]
    for a in attempts:
        band.plot([a, a], [0, 1], color="black", lw=0.8)
    band.set(
        yticks=[],
        xlabel="simulated time (s)",
        ylim=(0, 1),
        xlim=(t0, end + 0.03 * max(end - t0, 1)),
    )
    band.legend(
        handles=[Patch(color=STATE_COLOURS[s_], label=s_.replace("_", " ")) for s_ in present],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.9),
        ncols=len(present),
        fontsize="x-small",
        frameon=False,
    )
    band.set_ylabel("state", rotation=0, ha="right", va="center")
    cap = f"Stream {timeline.stream} ({cfg.name}): "
    if not c.disconnect_log:
        cap += "no disconnect. "
    for r in c.disconnect_log:
        cap += (
            f"cut at {r.time:.2f} s by a {r.cause.replace('_', '-')} (detected "
            f"{r.detected_at - r.time:.2f} s later), {r.attempts} connection "
            f"attempt{'s' if r.attempts != 1 else ''}"
        )
        if math.isfinite(r.connected_at):
            cap += (
                f", reconnected at {r.connected_at:.2f} s, first new frame at {r.resumed_at:.2f} "
                f"s, caught up with the {r.generated_at_break} "
                f"frame{'s' if r.generated_at_break != 1 else ''} generated before the break at "
                f"{r.recovered_at:.2f} s. "
            )
        else:
            cap += ", never reconnected. "
    ending = (
        "completed at " + format(c.end_time, ".1f") + " s"
        if c.outcome == "completed"
        else c.outcome + (" (" + c.error + ")" if c.error else "")
    )
    cap += (
        f"The stream {ending}. "
        "Grey bands: outages; black ticks in the state band: connection attempts."
    )
    return _finish(fig, cap)


def buffer_memory(session: SessionRecord, slo: Slo | None = None, name: str = "") -> Figure:
    """The server's replay-buffer memory over time: all of one session's buffers together
    (recorded at every server event), in one session (`model.simulation.session_record`)."""
    fig, ax = _figure()
    tr = session.memory
    t, b = np.asarray(tr.times, dtype=float), np.asarray(tr.bytes, dtype=float)
    streams = len(session.streams)
    if len(t) == 0:
        ax.text(0.5, 0.5, "no server events", ha="center", va="center", transform=ax.transAxes)
        return _finish(fig, "The server recorded no buffer.")
    scale, unit = (1e6, "MB") if b.max() >= 1e6 else (1e3, "kB")
    ax.plot(t, b / scale, color="#08519c", lw=1)
    ax.fill_between(t, b / scale, color="#08519c", alpha=0.15, lw=0)
    i = int(np.argmax(b))
    ax.plot(
        [t[i]],
        [b[i] / scale],
        "o",
        color="#cb181d",
        ms=4,
        label=f"peak {_bytes(b[i])} at {t[i]:.1f} s",
    )
    if slo is not None and slo.buffer_bytes <= 3 * b.max():
        ax.axhline(
            slo.buffer_bytes / scale,
            color="#cb181d",
            ls="--",
            label=f"SLO {_bytes(slo.buffer_bytes)}",
        )
    ax.set(
        xlabel="simulated time (s)",
        ylabel=f"replay-buffer memory ({unit})",
        title=f"Server replay-buffer memory, {streams} concurrent streams"
        + (f" ({name})" if name else ""),
    )
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    moving = np.flatnonzero(np.diff(b))  # the trace runs to the horizon: show where it moves
    right = t[moving[-1] + 1] if len(moving) else t[-1]
    if right > t[0]:
        ax.set_xlim(t[0], right + 0.05 * (right - t[0]))
    last = b[-1]
    cap = (
        f"Replay-buffer bytes held by the server for all {streams} streams of session "
        f"{session.session} together, at every server event: peak {_bytes(b[i])} at {t[i]:.1f} s"
    )
    if slo is not None:
        cap += f" against an SLO of {_bytes(slo.buffer_bytes)}"
    if last == 0:
        zero = t[np.flatnonzero(b > 0)[-1] + 1] if (b > 0).any() else t[0]
        cap += f"; back to zero at {zero:.1f} s (nothing leaked)."
    else:
        cap += f"; {_bytes(last)} still held at the last event ({t[-1]:.1f} s)."
    return _finish(fig, cap)


def conditions_throughput(timeline: StreamTimeline, cfg: Scenario, bin_s: float = 1.0) -> Figure:
    """Network condition over time against the frames reaching the application per second, for one
    stream (first arrivals only: replayed duplicates are not throughput)."""
    fig, (ax, cond_ax) = _figure((7.0, 3.6), rows=2, height_ratios=[3, 1], sharex=True)
    c, w = timeline.record, timeline.network
    end, start = c.end_time, c.start_time
    t, q = timeline.arrivals.times, timeline.arrivals.seqs
    _, first = np.unique(q, return_index=True)
    t = np.sort(t[first])
    edges = np.arange(math.floor(start), end + bin_s, bin_s)
    counts, _ = np.histogram(t, bins=edges)
    rate = counts / bin_s
    _shade_outages(ax, w, start, end)
    ax.stairs(rate, edges, color="#08519c", fill=True, alpha=0.6, label="new frames delivered")
    gap = cfg.server.gap.mean()
    if gap > 0:
        ax.axhline(1 / gap, color="#636363", ls=":", lw=1, label=f"generation rate ({1 / gap:g}/s)")
    for j, r in enumerate(c.disconnect_log):
        ax.axvline(r.time, color="#cb181d", lw=1, ls="--", label="break" if j == 0 else None)
    ax.set(
        ylabel=f"frames per second\n({bin_s:g} s bins)",
        title=f"Network condition and throughput, stream {timeline.stream}",
    )
    ax.legend(fontsize="x-small", loc="upper right")
    ax.grid(alpha=0.3)
    starts = np.append(w.condition_start, cfg.horizon)
    for a, b, k in zip(starts[:-1], starts[1:], w.condition_index):
        if a > end:
            break
        cond_ax.broken_barh(
            [(a, min(b, end) - a)], (k - 0.4, 0.8), color=CONDITION_COLOURS[CONDITIONS[k]]
        )
    cond_ax.step(
        np.append(w.condition_start, end),
        np.append(w.condition_index, w.condition_index[-1]),
        where="post",
        color="black",
        lw=0.8,
    )
    cond_ax.set(
        yticks=range(len(CONDITIONS)),
        ylim=(-0.6, len(CONDITIONS) - 0.4),
        xlabel="simulated time (s)",
        xlim=(start, end),
    )
    cond_ax.set_yticklabels(CONDITIONS, fontsize="small")
    idx = w.condition_at(t) if len(t) else np.empty(0, dtype=int)
    spans = np.clip(np.minimum(starts[1:], end) - np.maximum(starts[:-1], start), 0, None)
    parts = []
    for k, name in enumerate(CONDITIONS):
        dur = float(spans[w.condition_index == k].sum())
        if dur > 0:
            parts.append(f"{name} {dur:.1f} s at {(idx == k).sum() / dur:.0f} frames/s")
    cap = (
        f"Stream {timeline.stream} ({cfg.name}): the network condition (bottom) and the new "
        f"frames reaching the application per {bin_s:g} s (top; grey: outages). Time in each "
        "condition and mean throughput there: " + "; ".join(parts) + "."
    )
    return _finish(fig, cap)


def tune_frontier(trials: pd.DataFrame, axis: str, cost: str = "cost", name: str = "") -> Figure:
    """`midstream tune`'s candidates: cost against a second measure (`axis`, a column
    `cost:NAME` of the trial table), feasible ones (every SLO PASS) in green with their Pareto
    front, the others grey; the cheapest feasible one starred."""
    fig, ax = _figure(FULL)
    y = trials[f"cost:{axis}"].astype(float)
    ok = trials.feasible.astype(bool)
    ax.scatter(trials.cost[~ok], y[~ok], marker="x", color="#969696", label="not every SLO PASS")
    ax.scatter(trials.cost[ok], y[ok], color="#31a354", label="every SLO PASS")
    front = trials[ok].assign(y=y[ok]).sort_values(["cost", "y"])
    front = front[front.y < front.y.cummin().shift(fill_value=np.inf)]
    if len(front):
        ax.step(front.cost, front.y, where="post", color="#31a354", lw=1, label="Pareto front")
        best = front.iloc[0]
        ax.scatter([best.cost], [best.y], marker="*", s=180, color="#006d2c", zorder=3,
                   label=f"cheapest: trial {int(best.trial)}")  # fmt: skip
    ax.set_xlabel(f"cost ({cost})")
    ax.set_ylabel(axis)
    ax.set_title(f"{name}: tuning candidates" if name else "tuning candidates")
    ax.legend(fontsize=7)
    caption = (
        f"{int(ok.sum())} of {len(trials)} candidates pass every SLO; the cheapest costs "
        f"{front.iloc[0].cost:.4g} with {axis} {front.iloc[0].y:.4g}; {len(front)} on the front."
        if len(front)
        else f"none of {len(trials)} candidates passes every SLO."
    )
    return _finish(fig, caption)
