"""The reliability report: run the standard scenarios and write a PDF with verdicts, estimates and figures.

    from model.report import build_report
    build_report(seed=1, out_path="reports/reliability.pdf")

or `midstream report --seed 1 --out reports/reliability.pdf`.

Each scenario is run exactly as `midstream run` runs it (the same `run_demonstration`,
`runner.run` or `run_until_decided` call and `slo.verdicts`), so the verdicts in the PDF are the
ones the command prints. Sizes count sessions (replications), as on the command line; a
multi-stream scenario's session holds `session.streams` streams.

Default sizes (`run --demonstrate`): each scenario simulates the sessions and disconnects with
which zero failures would PASS its completion and recovery targets (5,990 sessions and 2,995
disconnects for 99.95 % and 99.9 % at 95 %), within a budget (`default_budget`): 20,000 sessions
for a single-stream scenario, 12,000 streams' worth for a multi-stream one but at least the 299
sessions a p99 memory verdict needs. A multi-stream scenario's completion is judged per session,
so within that budget it can FAIL but not PASS. The whole default report takes under two minutes
on 2 cores.

The PDF (reportlab platypus: real text, tables, figures as 200 dpi PNG) has a title page, contents,
an executive summary with every scenario's SLO verdicts, a section per scenario (description,
non-default settings, estimates, figures, a generated reading), a resume-against-restart sweep,
methods and assumptions, an appendix of validation against theory (from `model.validation` when it
exists) and the provenance. A JSON sidecar `OUT.pdf.json` holds the provenance and verdict tables.
"""
from __future__ import annotations

import importlib
import inspect
import io
import json
import math
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
from tqdm import tqdm

from model import __version__, figures, runner, slo, stats
from model.config import Scenario, apply_overrides
from model.scenarios import ENTRIES, SCENARIOS, get_scenario
from model.sequential import memory_sessions, run_demonstration, run_until_decided
from model.simulation import Results, session_record, stream_timeline

__all__ = ["build_report", "default_budget", "run_scenario", "ScenarioRun", "SINGLE_STREAM_BUDGET",
           "MULTI_STREAM_BUDGET_STREAMS", "SWEEP_RATE_SCALES", "DEFAULT_OUT"]

SINGLE_STREAM_BUDGET = 20_000
MULTI_STREAM_BUDGET_STREAMS = 12_000
SWEEP_RATE_SCALES = (1, 2, 4, 8, 16, 32)
SWEEP_SESSIONS = 200
SWEEP_STRATEGIES = ("resume", "restart")
DEFAULT_OUT = Path("reports/reliability.pdf")
DPI = 200

# the preferred scenario for each single-run figure (falls back to another included one)
TIMELINE_SCENARIO = "text-interruption"
MEMORY_SCENARIO = "stress"
CONDITIONS_SCENARIO = "network-degradation"
SWEEP_SCENARIO = "text-interruption"

SLO_SHORT = {"completion_rate": "completion", "integrity_rate": "integrity", "recovery_rate": "recovery",
             "timeout_handling_rate": "timeout handling", "buffer_bytes": "memory"}


def _short_slo(name: str) -> str:
    """Column label for the verdict matrix: 'p99 recovery_time' -> 'p99 recovery'."""
    if " " in name:
        q, measure = name.split(" ", 1)
        return f"{q} {SLO_SHORT.get(measure, measure.removesuffix('_time'))}"
    return SLO_SHORT.get(name, name)


def default_budget(cfg: Scenario) -> int:
    """Default session budget for a scenario: 20,000 single-stream sessions; 12,000 streams' worth of
    multi-stream ones, but never fewer sessions than a p99 memory verdict (one sample per session)
    needs to be able to PASS: 299 at 95 % (the upper order-statistic bound exists once q^n <= 1-C)."""
    size = cfg.session.streams
    if size == 1:
        return SINGLE_STREAM_BUDGET
    return max(math.ceil(MULTI_STREAM_BUDGET_STREAMS / size), memory_sessions(cfg))


@dataclass
class ScenarioRun:
    """One scenario's run: its configuration, tables, verdicts and estimates."""

    name: str
    cfg: Scenario
    sessions: int
    results: Results
    verdicts: pd.DataFrame
    estimates: pd.DataFrame
    command: str
    seconds: float
    provenance: dict
    mode: str = "fixed"
    budget: int | None = None
    figures: list = field(default_factory=list)  # (kind, Figure) pairs


def _overrides_list(overrides) -> list[str]:
    if overrides is None:
        return []
    if isinstance(overrides, dict):
        return [f"{k}={v}" for k, v in overrides.items()]
    return list(overrides)


def run_scenario(name: str, seed: int, streams: int | None = None, overrides=None, until_decided: bool = False,
                 budget: int | None = None, workers: int | None = None, progress: bool = True) -> ScenarioRun:
    """Run one scenario as `midstream run` does and judge its SLOs."""
    extra = _overrides_list(overrides)
    cfg = apply_overrides(get_scenario(name), extra)
    sets = "".join(f" --set {o}" for o in extra)
    start = time.perf_counter()
    if streams is not None:
        sessions, mode = streams, "fixed"
        res = runner.run(cfg, sessions, seed, workers=workers, progress=progress)
        table = slo.verdicts(res, cfg.slo)
        command = f"midstream run {name} --streams {sessions} --seed {seed}{sets}"
    else:
        budget = budget if budget is not None else default_budget(cfg)
        if until_decided:
            mode = "until-decided"
            res, table = run_until_decided(cfg, budget, seed, first_batch=min(1000, budget), workers=workers, progress=progress)
        else:
            mode = "demonstrate"
            res, table = run_demonstration(cfg, budget, seed, workers=workers, progress=progress)
        sessions = int(res.streams.session.nunique())
        command = f"midstream run {name} --{mode} --budget {budget} --seed {seed}{sets}"
    seconds = time.perf_counter() - start
    est = slo.estimates(res, cfg.slo.confidence)
    prov = runner.provenance(cfg, extra, seed, sessions)
    return ScenarioRun(name, cfg, sessions, res, table, est, command, seconds, prov, mode, budget)


# ---------------------------------------------------------------- figures and readings

def _first(preferred: str, runs: list[ScenarioRun], want) -> ScenarioRun | None:
    by_name = {r.name: r for r in runs}
    if preferred in by_name and want(by_name[preferred]):
        return by_name[preferred]
    return next((r for r in runs if want(r)), None)


def _member(run: ScenarioRun, stream: int):
    """Re-simulate the session holding `stream` (deterministic: the same rows as the table)."""
    return stream_timeline(run.cfg, run.provenance["seed"], stream)


def _scenario_figures(run: ScenarioRun) -> None:
    d, s, name = run.results.disconnects, run.results.streams, run.name
    if len(d):
        run.figures.append(("recovery", figures.recovery_cdf(d, run.cfg.slo, name)))
        run.figures.append(("attempts", figures.attempts_histogram(d)))
    run.figures.append(("outcomes", figures.error_breakdown(s)))


def _special_figures(runs: list[ScenarioRun]) -> None:
    single_with_disc = lambda r: r.cfg.session.streams == 1 and len(r.results.disconnects) > 0
    tl = _first(TIMELINE_SCENARIO, runs, single_with_disc)
    if tl is not None:
        sid = figures.pick_stream(tl.results.disconnects, 2, tl.results.streams)
        tl.figures.append(("timeline", figures.stream_timeline(_member(tl, sid), tl.cfg)))
    mem = _first(MEMORY_SCENARIO, runs, lambda r: r.cfg.session.streams > 1)
    if mem is not None:
        peaks = mem.results.streams.groupby("session").session_buffer_peak_bytes.first()
        worst = int(peaks.idxmax())
        session = session_record(mem.cfg, mem.provenance["seed"], worst)
        fig = figures.buffer_memory(session, mem.cfg.slo, mem.name)
        fig.caption += f" Session {worst} is the one with the largest peak of the {len(peaks):,} simulated."
        mem.figures.append(("memory", fig))
    cond = _first(CONDITIONS_SCENARIO, runs, single_with_disc)
    if cond is not None:
        sid = figures.pick_stream(cond.results.disconnects, 1, cond.results.streams, after=5.0)
        cond.figures.append(("conditions", figures.conditions_throughput(_member(cond, sid), cond.cfg)))


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
    unit = "" if cfg.session.streams == 1 else f" in {run.sessions:,} sessions of {cfg.session.streams}"
    text = f"{done:,} of {n:,} streams{unit} completed ({_pct(done / n)})"
    extra = []
    if len(failed):
        extra.append(", ".join(f"{v:,} failed with {k}" for k, v in failed.error.value_counts().items()))
    if censored:
        extra.append(f"{censored:,} were still running at the {cfg.horizon:g} s horizon (censored)")
    out.append(text + ("; " + "; ".join(extra) if extra else "") + ".")
    completed = s[s.outcome == "completed"]
    if len(completed):
        intact = int((completed.integrity_ok & (completed.duplicates_delivered == 0)).sum())
        ct = completed.completion_time.astype(float) - completed.start_time.astype(float)
        out.append(f"{intact:,} of the {len(completed):,} completed responses were intact (hash equal, no duplicate "
                   f"delivered); the median stream took {ct.median():.1f} s from request to last frame (p99 {ct.quantile(0.99):.1f} s).")
    if len(d):
        causes = d.cause.value_counts(normalize=True)
        out.append(f"{len(d):,} disconnects ({len(d) / n:.2f} per stream): " +
                   ", ".join(f"{k.replace('_', '-')} {_pct(v)}" for k, v in causes.items()) + ".")
        heartbeat = d[d.detected_by == "heartbeat"]
        if len(heartbeat):
            out.append(f"{len(heartbeat):,} {'was' if len(heartbeat) == 1 else 'were'} noticed only by the heartbeat, "
                       f"a median {heartbeat.detection_delay.median():.1f} s after the break (ping every "
                       f"{cfg.client.ping_interval:g} s, timeout {cfg.client.ping_timeout:g} s).")
        samples = slo.latency_samples(run.results)
        rec = samples["recovery_time"]
        target, q = cfg.slo.recovery_time, cfg.slo.quantile
        row = run.estimates[(run.estimates.measure == "recovery_time") & (run.estimates.statistic == f"p{q * 100:g}")]
        ci = ""
        if len(row) and np.isfinite(row.lower.iloc[0]):
            up = row.upper.iloc[0]
            ci = f" ({cfg.slo.confidence:.0%} interval {row.lower.iloc[0]:.3g} to {up:.3g} s)" if np.isfinite(up) else \
                 f" (at least {row.lower.iloc[0]:.3g} s at {cfg.slo.confidence:.0%})"
        out.append(f"{_pct(float(np.mean(rec < target)))} of recoveries took under {target:g} s; the median took "
                   f"{figures._seconds(float(np.median(rec)))} and the p{q * 100:g} "
                   f"{figures._seconds(float(np.quantile(rec, q, method='inverted_cdf')))}{ci}.")
        first = float(((d.attempts == 1) & (d.outcome == "recovered")).mean())
        out.append(f"{_pct(first)} of disconnects were back on the first connection attempt; the worst needed "
                   f"{int(d.attempts.max())} attempts and waited {d.backoff_wait.max():.1f} s in backoff.")
        replayed, missing = int(d.bytes_replayed.sum()), int(d.bytes_missing.sum())
        if missing > 0:
            out.append(f"Resumes replayed {figures._bytes(replayed)} for {figures._bytes(missing)} the clients were missing "
                       f"({replayed / missing:.2f} bytes sent per byte needed).")
        dups = int(s.duplicates_received.sum())
        if dups:
            out.append(f"Clients dropped {dups:,} duplicate frames; {int(s.duplicates_delivered.sum()):,} reached an application.")
    else:
        out.append("No stream was disconnected, so the recovery, reconnect and resume measures have no samples "
                   "(their verdicts are N/A).")
    stalls = int(s.stalls_absorbed.sum())
    if stalls:
        out.append(f"{stalls:,} outages hit a stream without breaking its connection (silent outages shorter than the "
                   f"heartbeat became stalls); they delay frames but are not disconnects.")
    peaks = s.groupby("session").session_buffer_peak_bytes.first().astype(float)
    what = "per stream" if cfg.session.streams == 1 else f"per session of {cfg.session.streams} streams"
    out.append(f"Server replay-buffer peak {what}: median {figures._bytes(peaks.median())}, "
               f"maximum {figures._bytes(peaks.max())}, against a target of {figures._bytes(cfg.slo.buffer_bytes)} at p{cfg.slo.quantile * 100:g}.")
    if len(failed):
        released = np.isfinite(failed.buffer_released_by.astype(float))
        out.append(f"Every failed stream ended with a typed error; {int(released.sum()):,} of {len(failed):,} had their "
                   f"server buffer released (by {failed.buffer_released_by.astype(float)[released].max():.0f} s at the latest)."
                   if released.any() else f"{len(failed):,} failed streams still hold their server buffer.")
    v = run.verdicts
    counts = v.status.value_counts()
    text = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("PASS", "FAIL", "INCONCLUSIVE", "N/A"))
    more = v[(v.status == "INCONCLUSIVE") & v.more_streams.notna()]
    if len(more):
        text += ("; if the observed rates hold, " + "; ".join(
            f"{r.slo} would be decided after about {int(r.more_streams):,} more {'streams' if r.slo != 'recovery_rate' else 'disconnects'}"
            for r in more.itertuples()))
    out.append(f"Verdicts: {text}.")
    return out


# ---------------------------------------------------------------- validation appendix

def validation_rows(quick: bool = True, workers: int | None = None) -> tuple[list[dict] | None, str]:
    """Rows from `model.validation` if the module exists: (rows, note); rows None when not run."""
    try:
        module = importlib.import_module("model.validation")
    except ModuleNotFoundError as e:
        if e.name != "model.validation":
            raise  # the module exists but something it imports does not: say so
        return None, "Validation against theory runs with `midstream validate`; its results are not part of this report."
    try:
        if hasattr(module, "validation_rows"):
            rows = list(module.validation_rows())
        elif hasattr(module, "run_cases"):
            takes_workers = "workers" in inspect.signature(module.run_cases).parameters
            rows = list(module.run_cases(quick=quick, **({"workers": workers} if takes_workers and workers else {})))
        else:
            return None, "model.validation has neither validation_rows() nor run_cases(); run `midstream validate`."
    except Exception as e:  # shown in the report, never hidden
        return None, f"Running model.validation failed: {type(e).__name__}: {e}. Run `midstream validate` to see the details."
    return rows, f"{len(rows)} cases from model.validation ({'quick' if quick else 'full'} sizes)."


# ---------------------------------------------------------------- PDF

def _styles():
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    ss = getSampleStyleSheet()
    st = {
        "title": ParagraphStyle("T", parent=ss["Title"], fontSize=24, leading=30, spaceAfter=12),
        "subtitle": ParagraphStyle("ST", parent=ss["Normal"], fontSize=13, leading=18, textColor=colors.HexColor("#444444")),
        "h1": ParagraphStyle("H1", parent=ss["Heading1"], fontSize=16, leading=20, spaceBefore=6, spaceAfter=8),
        "h2": ParagraphStyle("H2", parent=ss["Heading2"], fontSize=12.5, leading=16, spaceBefore=10, spaceAfter=4),
        "h3": ParagraphStyle("H3", parent=ss["Heading3"], fontSize=10.5, leading=13, spaceBefore=6, spaceAfter=3),
        "body": ParagraphStyle("B", parent=ss["BodyText"], fontSize=9.5, leading=12.5, spaceAfter=5),
        "bullet": ParagraphStyle("BL", parent=ss["BodyText"], fontSize=9.5, leading=12.5, leftIndent=12, bulletIndent=2, spaceAfter=2),
        "caption": ParagraphStyle("C", parent=ss["BodyText"], fontSize=8.3, leading=10.5, textColor=colors.HexColor("#333333"),
                                  fontName="Helvetica-Oblique", spaceAfter=8),
        "cell": ParagraphStyle("cell", parent=ss["BodyText"], fontSize=7.6, leading=9.2),
        "cellb": ParagraphStyle("cellb", parent=ss["BodyText"], fontSize=7.6, leading=9.2, fontName="Helvetica-Bold"),
        "small": ParagraphStyle("small", parent=ss["BodyText"], fontSize=6.6, leading=8),
        "smallb": ParagraphStyle("smallb", parent=ss["BodyText"], fontSize=6.6, leading=8, fontName="Helvetica-Bold"),
        "mono": ParagraphStyle("M", parent=ss["Code"], fontSize=7.8, leading=9.6),
    }
    return st


STATUS_COLOURS = {"PASS": "#c7e9c0", "FAIL": "#fcbba1", "INCONCLUSIVE": "#fee391", "N/A": "#f0f0f0",
                  "yes": "#c7e9c0", "NO": "#fcbba1"}
MATRIX_LABEL = {"PASS": "PASS", "FAIL": "FAIL", "INCONCLUSIVE": "INCONCL.", "N/A": "n/a"}


def _p(text: str, style, **kw):
    from reportlab.platypus import Paragraph
    return Paragraph(text, style, **kw)


def _e(text) -> str:
    return escape(str(text))


def _table(rows: list[list], widths, st, header_rows: int = 1, status_col: int | None = None, small: bool = False):
    """A platypus table of Paragraph cells with a shaded header; status cells coloured."""
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle
    head, body = ("smallb", "small") if small else ("cellb", "cell")
    cells = [[c if not isinstance(c, str) else _p(_e(c), st[head] if i < header_rows else st[body]) for c in row]
             for i, row in enumerate(rows)]
    t = Table(cells, colWidths=widths, repeatRows=header_rows, hAlign="LEFT")
    style = [
        ("BACKGROUND", (0, 0), (-1, header_rows - 1), colors.HexColor("#e5e5e5")),
        ("LINEBELOW", (0, header_rows - 1), (-1, header_rows - 1), 0.6, colors.HexColor("#888888")),
        ("LINEBELOW", (0, header_rows), (-1, -1), 0.25, colors.HexColor("#dddddd")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    if status_col is not None:
        for i, row in enumerate(rows[header_rows:], start=header_rows):
            colour = STATUS_COLOURS.get(str(row[status_col]))
            if colour:
                style.append(("BACKGROUND", (status_col, i), (status_col, i), colors.HexColor(colour)))
    t.setStyle(TableStyle(style))
    return t


def _image(fig, width_in: float):
    from reportlab.lib.units import inch
    from reportlab.platypus import Image
    w, h = fig.get_size_inches()
    return Image(io.BytesIO(figures.png_bytes(fig, DPI)), width=width_in * inch, height=width_in * h / w * inch)


class _Counter:
    def __init__(self):
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return self.n


def _figure_block(fig, st, counter: _Counter, width_in: float = 6.5) -> list:
    from reportlab.platypus import KeepTogether
    k = counter.next()
    return [KeepTogether([_image(fig, width_in), _p(f"<b>Figure {k}.</b> {_e(fig.caption)}", st["caption"])])]


def _pair_block(a, b, st, counter: _Counter) -> list:
    from reportlab.lib.units import inch
    from reportlab.platypus import Table, TableStyle
    ka, kb = counter.next(), counter.next()
    cell = lambda fig, k: [_image(fig, 3.2), _p(f"<b>Figure {k}.</b> {_e(fig.caption)}", st["caption"])]
    t = Table([[cell(a, ka), cell(b, kb)]], colWidths=[3.3 * inch, 3.3 * inch], hAlign="LEFT")
    t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    return [t]


def _verdict_rows(table: pd.DataFrame) -> list[list]:
    head = ["SLO", "target", "status", "estimate", "lower", "upper", "n", "more streams"]
    rows = [head]
    for r in table.itertuples():
        rows.append([r.slo, r.target, r.status, _num(r.estimate), _num(r.lower), _num(r.upper), _num(int(r.n)),
                     "-" if r.more_streams is None or (isinstance(r.more_streams, float) and math.isnan(r.more_streams))
                     else f"{int(r.more_streams):,}"])
    return rows


def _estimate_rows(est: pd.DataFrame) -> list[list]:
    shown = est[(est.method != "wilson") & est.statistic.isin(["rate", "p50", "p99", "mean (finite)"])]
    unit = {"reconnect_time": "s", "resume_time": "s", "recovery_time": "s", "buffer_bytes": "B"}
    rows = [["measure", "statistic", "n", "estimate", "lower", "upper", "unit", "method"]]
    for r in shown.itertuples():
        rows.append([r.measure, r.statistic, _num(int(r.n)), _num(r.estimate), _num(r.lower), _num(r.upper),
                     unit.get(r.measure, "fraction"), r.method])
    return rows


def _settings_rows(run: ScenarioRun, extra: list[str]) -> list[list]:
    entry = ENTRIES.get(run.name)
    rows = [["setting", "value", "why"]]
    if entry is not None:
        for path, value in entry.overrides.items():
            rows.append([path, str(value), entry.why.get(path, "")])
    for item in extra:
        path, _, value = item.partition("=")
        rows.append([path.strip(), value.strip(), "report-wide override (applies to every scenario)"])
    return rows


def _document(path: Path, title: str):
    """An A4 BaseDocTemplate with a footer, PDF outline entries and table-of-contents notifications."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate

    class Doc(BaseDocTemplate):
        def afterFlowable(self, flowable):
            level = getattr(flowable, "_toc_level", None)
            if level is not None:
                text = flowable.getPlainText()
                key = f"h{self.seq.nextf('heading')}"
                self.canv.bookmarkPage(key)
                self.canv.addOutlineEntry(text, key, level=level, closed=level > 0)
                self.notify("TOCEntry", (level, text, self.page, key))

    doc = Doc(str(path), pagesize=A4, title=title, author=f"midstream {__version__}",
              subject="Reliability of streaming responses cut mid-stream", leftMargin=2 * cm, rightMargin=2 * cm,
              topMargin=1.8 * cm, bottomMargin=1.8 * cm)
    frame = Frame(doc.leftMargin, doc.bottomMargin, doc.width, doc.height, id="body")

    def footer(canvas, d):
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillGray(0.4)
        canvas.drawString(d.leftMargin, 1.0 * cm, f"midstream {__version__} - reliability report")
        canvas.drawRightString(A4[0] - d.rightMargin, 1.0 * cm, f"page {d.page}")
        canvas.restoreState()

    doc.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=footer)])
    return doc


def _heading(text: str, style, level: int):
    para = _p(_e(text), style)
    para._toc_level = level
    return para


def _title_section(runs: list[ScenarioRun], meta: dict, st) -> list:
    """Title page and contents."""
    from reportlab.lib.units import inch
    from reportlab.platypus import PageBreak, Spacer
    from reportlab.platypus.tableofcontents import TableOfContents
    story: list = []
    story += [Spacer(1, 1.6 * inch), _p("midstream reliability report", st["title"]),
              _p("Streaming responses cut mid-stream: do they come back complete, intact and fast enough, "
                 "and how sure are we?", st["subtitle"]), Spacer(1, 0.4 * inch)]
    info = [["created", meta["created_utc"]], ["package", f"midstream {__version__}"], ["seed", str(meta["seed"])],
            ["scenarios", ", ".join(r.name for r in runs)], ["mode", meta["mode_text"]],
            ["git commit", meta.get("git_commit") or "unknown"]]
    if meta["overrides"]:
        info.append(["overrides", "; ".join(meta["overrides"])])
    story.append(_table([["", ""]] + info, [1.3 * inch, 5.0 * inch], st, header_rows=1))
    story += [Spacer(1, 0.3 * inch),
              _p("A discrete-event model (SimPy) of a client, a network link and a server with loss, jitter, "
                 "disconnects and outages, and a resumable streaming protocol. Every number here comes from seeded, "
                 "reproducible simulation of that model, not from measurements of a real system.", st["body"]),
              PageBreak()]
    toc = TableOfContents()
    toc.levelStyles[0].fontSize, toc.levelStyles[0].leading = 10, 13
    if len(toc.levelStyles) > 1:
        toc.levelStyles[1].fontSize, toc.levelStyles[1].leading = 9, 11
    story += [_p("Contents", st["h1"]), toc, PageBreak()]
    return story


def _summary_section(runs: list[ScenarioRun], confidence: float | None, st) -> list:
    """Executive summary: the verdict matrix, what verdicts mean, every verdict table."""
    from reportlab.lib import colors
    from reportlab.lib.units import inch
    from reportlab.platypus import KeepTogether, PageBreak, TableStyle
    story: list = []
    story.append(_heading("Executive summary", st["h1"], 0))
    slo_names = list(runs[0].verdicts.slo) if runs else []
    head = ["scenario"] + [_short_slo(n) for n in slo_names]
    matrix = [head]
    for r in runs:
        status = dict(zip(r.verdicts.slo, r.verdicts.status))
        matrix.append([r.name] + [MATRIX_LABEL.get(status.get(n), "-") for n in slo_names])
    mt = _table(matrix, [1.45 * inch] + [(6.6 - 1.45) / max(1, len(slo_names)) * inch] * len(slo_names), st, small=True)
    for i, row in enumerate(matrix[1:], start=1):
        for j, v in enumerate(row[1:], start=1):
            full = {label: status for status, label in MATRIX_LABEL.items()}.get(v)
            if full in STATUS_COLOURS:
                mt.setStyle(TableStyle([("BACKGROUND", (j, i), (j, i), colors.HexColor(STATUS_COLOURS[full]))]))
    pass_n = sum((r.verdicts.status == "PASS").sum() for r in runs)
    fail_n = sum((r.verdicts.status == "FAIL").sum() for r in runs)
    inc_n = sum((r.verdicts.status == "INCONCLUSIVE").sum() for r in runs)
    na_n = sum((r.verdicts.status == "N/A").sum() for r in runs)
    total = pass_n + fail_n + inc_n
    story.append(_p(f"{len(runs)} scenarios, {total} SLO verdicts: <b>{pass_n} PASS</b>, <b>{fail_n} FAIL</b>, "
                    f"<b>{inc_n} INCONCLUSIVE</b> ({na_n} more SLOs had nothing to judge: n/a). Each verdict compares a one-sided "
                    f"{'%g %%' % (confidence * 100) if confidence else 'per-scenario'} confidence bound with the target "
                    "(targets: the seed's SLOs; see each table).", st["body"]))
    story += [mt, _p("INCONCL. = INCONCLUSIVE; n/a = no trials (no give-ups to judge timeout handling by, no "
                     "disconnects to time). Column labels: the SLO (rates) or the quantile and measure the target "
                     "applies to.", st["caption"])]
    story.append(_p("<b>What the verdicts mean.</b> PASS: the one-sided bound on the wrong side of the target clears it "
                    "(for a rate, the lower bound is at least the target; for a p99 latency or memory target, the upper "
                    "bound is below it). If the model's true value missed the target, evidence this strong would appear in "
                    f"at most {100 * (1 - (confidence or 0.95)):.0f} % of runs. FAIL is the mirror image: the bound on the "
                    "good side is already on the wrong side of the target. INCONCLUSIVE: the simulated streams cannot tell "
                    "either way; for rates, <i>more streams</i> says how many extra trials would decide it if the observed "
                    "rate held. Zero-tolerance targets (a rate of 1) PASS while no violation is seen and FAIL at the first; "
                    "the lower bound shown says how large a violation rate the clean sample still allows.", st["body"]))
    story.append(_p("<b>What they do not promise.</b> They are statements about the model under its assumed network "
                    "conditions, disconnect rates, outage lengths and protocol settings (see Methods), not about a production "
                    "system: the intervals cover simulation noise only, not error in those assumptions. The confidence "
                    "applies to each verdict on its own; across a table of many verdicts a few may be wrong by chance. "
                    "In multi-stream scenarios the streams of one session share their network and their disconnects: "
                    "completion is then judged with the session as the trial (conservative, valid whatever the "
                    "correlation) and memory per session, but recovery success still counts disconnects as "
                    "independent, so its interval is narrower than the evidence warrants. A PASS on a "
                    "zero-tolerance target is not a proof that failures cannot happen.", st["body"]))
    story.append(_heading("Verdicts with intervals", st["h2"], 1))
    story.append(_p("Per scenario: the SLO, its target, the verdict, the estimate, the one-sided lower and upper bounds "
                    "the decision used, the number of trials (streams, disconnects or sessions) and, for inconclusive "
                    "rates, the extra trials that would decide it. These are the tables `midstream run` prints for the "
                    "same streams and seed (command under each).", st["body"]))
    widths = [1.35 * inch, 0.7 * inch, 0.95 * inch, 0.7 * inch, 0.7 * inch, 0.7 * inch, 0.55 * inch, 0.75 * inch]
    for r in runs:
        note = (f"one-sided bounds at {r.verdicts.confidence.iloc[0]:.4g}"
                + (f" per look ({int(r.verdicts.looks_planned.iloc[0])} planned looks, overall "
                   f"{r.verdicts.stated_confidence.iloc[0]:.0%})" if "looks_planned" in r.verdicts else ""))
        story.append(KeepTogether([
            _p(f"<b>{_e(r.name)}</b> - {r.sessions:,} sessions, {len(r.results.streams):,} streams, "
               f"{len(r.results.disconnects):,} disconnects; {note}", st["h3"]),
            _table(_verdict_rows(r.verdicts), widths, st, status_col=2),
            _p(f"<font face='Courier'>{_e(r.command)}</font>", st["caption"])]))
    story.append(PageBreak())
    return story


def _scenario_sections(runs: list[ScenarioRun], meta: dict, st, fig_no) -> list:
    """A section per scenario: settings, reading, estimates, figures."""
    from reportlab.lib.units import inch
    from reportlab.platypus import KeepTogether, PageBreak, Spacer
    story: list = []
    story.append(_heading("Scenarios", st["h1"], 0))
    for r in runs:
        story.append(_heading(r.name, st["h2"], 1))
        story.append(_p(_e(ENTRIES[r.name].summary if r.name in ENTRIES else r.cfg.description), st["body"]))
        rows = _settings_rows(r, meta["overrides"])
        story.append(_p("<b>Non-default configuration</b> (everything else as in <font face='Courier'>midstream describe "
                        f"{_e(r.name)}</font>):", st["body"]))
        if len(rows) > 1:
            story.append(_table(rows, [1.9 * inch, 0.8 * inch, 3.8 * inch], st))
        else:
            story.append(_p("none: the default configuration.", st["body"]))
        story.append(Spacer(1, 4))
        story.append(_p("<b>Reading.</b>", st["body"]))
        for sentence in reading(r):
            story.append(_p(_e(sentence), st["bullet"], bulletText="\u2022"))
        story.append(Spacer(1, 4))
        story.append(KeepTogether([
            _p(f"<b>Estimates</b> (two-sided {r.cfg.slo.confidence:.0%} intervals: Clopper-Pearson for rates, order "
               "statistics for quantiles, Student t for means of the finite values; unrecovered disconnects count as "
               "infinite in the quantiles):", st["body"]),
            _table(_estimate_rows(r.estimates), [1.35 * inch, 0.8 * inch, 0.5 * inch, 0.7 * inch, 0.7 * inch, 0.7 * inch,
                                                 0.55 * inch, 1.0 * inch], st)]))
        story.append(Spacer(1, 6))
        figs = dict(r.figures)
        if "recovery" in figs:
            story += _figure_block(figs["recovery"], st, fig_no)
        if "attempts" in figs:
            story += _pair_block(figs["attempts"], figs["outcomes"], st, fig_no)
        else:
            story += _figure_block(figs["outcomes"], st, fig_no, width_in=3.4)
        for kind in ("timeline", "memory", "conditions"):
            if kind in figs:
                story += _figure_block(figs[kind], st, fig_no)
        story.append(PageBreak())
    return story


def _sweep_section(sweep_info: dict, meta: dict, st, fig_no) -> list:
    """The resume-against-restart sweep."""
    from reportlab.lib.units import inch
    from reportlab.platypus import PageBreak
    story: list = []
    story.append(_heading("What if: resume against restart as disconnects grow", st["h1"], 0))
    story.append(_p(f"The <b>{_e(sweep_info['scenario'])}</b> scenario run at disconnect-rate multipliers "
                    f"{', '.join(f'{x:g}' for x in sweep_info['scales'])} (disconnects.rate_scale) with the client "
                    f"resuming from its last frame or restarting the response from scratch; {sweep_info['sessions']:,} "
                    f"streams per point, seed {meta['seed']}, the same weather for both strategies (common random "
                    f"numbers). Command: <font face='Courier'>{_e(sweep_info['command'])}</font>", st["body"]))
    story += _figure_block(sweep_info["figure"], st, fig_no)
    story.append(_table(sweep_info["rows"], [1.2 * inch, 0.8 * inch, 0.8 * inch, 1.1 * inch, 1.2 * inch, 1.2 * inch], st))
    story.append(PageBreak())
    return story


def _methods_section(runs: list[ScenarioRun], meta: dict, st) -> list:
    """Methods and assumptions."""
    story: list = []
    story.append(_heading("Methods and assumptions", st["h1"], 0))
    story.append(_heading("The model", st["h2"], 1))
    for text in METHODS_MODEL:
        story.append(_p(text, st["body"]))
    story.append(_heading("The statistics", st["h2"], 1))
    for text in METHODS_STATS:
        story.append(_p(text, st["body"]))
    story.append(_p(_sizes_paragraph(runs, meta), st["body"]))
    return story


def _validation_section(validation: tuple, st) -> list:
    """Appendix A: validation against theory."""
    from reportlab.lib.units import inch
    from reportlab.platypus import PageBreak
    story: list = []
    story.append(PageBreak())
    story.append(_heading("Appendix A. Validation against theory", st["h1"], 0))
    rows, note = validation
    story.append(_p(_e(note), st["body"]))
    if rows:
        head = ["case (and how the expected value is derived)", "expected", "estimate", "lower", "upper", "agree"]
        body = [head]
        for row in rows:
            case = f"<b>{_e(row.get('case', ''))}</b>"
            if row.get("note"):
                case += f"<br/><font size='6.3' color='#555555'>{_e(row['note'])}</font>"
            value = lambda k: row.get(k) if isinstance(row.get(k), str) else _num(row.get(k))
            body.append([_p(case, st["cell"]), value("expected"), value("estimate"), value("lower"), value("upper"),
                         "yes" if row.get("agree") else "NO"])
        story.append(_table(body, [3.35 * inch, 0.7 * inch, 0.7 * inch, 0.65 * inch, 0.65 * inch, 0.45 * inch], st,
                            status_col=5))
        bad = [row.get("case") for row in rows if not row.get("agree")]
        story.append(_p(f"{len(rows) - len(bad)} of {len(rows)} cases agree with theory"
                        + (f"; disagreeing: {_e(', '.join(map(str, bad)))}." if bad else "."), st["body"]))
    return story


def _provenance_section(runs: list[ScenarioRun], meta: dict, st) -> list:
    """Appendix B: provenance."""
    from reportlab.lib.units import inch
    from reportlab.platypus import Spacer
    story: list = []
    story.append(_heading("Appendix B. Provenance", st["h1"], 0))
    prov = [["", ""], ["created (UTC)", meta["created_utc"]], ["package version", __version__],
            ["git commit", meta.get("git_commit") or "unknown"], ["python", meta.get("python", "")],
            ["root seed", str(meta["seed"])], ["mode", meta["mode_text"]],
            ["report-wide overrides", "; ".join(meta["overrides"]) or "none"],
            ["workers", str(meta["workers"])], ["wall time", f"{meta['wall_seconds']:.0f} s (up to writing this PDF)"]]
    story.append(_table(prov, [1.6 * inch, 4.9 * inch], st))
    story.append(Spacer(1, 6))
    rows = [["scenario", "sessions", "streams", "disconnects", "seconds", "command"]]
    for r in runs:
        rows.append([r.name, f"{r.sessions:,}", f"{len(r.results.streams):,}", f"{len(r.results.disconnects):,}",
                     f"{r.seconds:.1f}", r.command])
    story.append(_table(rows, [1.3 * inch, 0.6 * inch, 0.6 * inch, 0.7 * inch, 0.55 * inch, 2.75 * inch], st))
    story.append(_p("Every stream depends only on (seed, stream index): the commands above reproduce each verdict "
                    "table exactly, whatever the number of workers. The JSON file next to this PDF holds the same "
                    "provenance and verdict tables in machine-readable form.", st["body"]))
    return story


def _render(path: Path, runs: list[ScenarioRun], sweep_info: dict | None, validation: tuple, meta: dict) -> int:
    st = _styles()
    fig_no = _Counter()
    conf = {r.cfg.slo.confidence for r in runs}
    confidence = conf.pop() if len(conf) == 1 else None
    story = _title_section(runs, meta, st) + _summary_section(runs, confidence, st) + _scenario_sections(runs, meta, st, fig_no)
    if sweep_info is not None:
        story += _sweep_section(sweep_info, meta, st, fig_no)
    story += _methods_section(runs, meta, st) + _validation_section(validation, st) + _provenance_section(runs, meta, st)
    doc = _document(path, "midstream reliability report")
    doc.multiBuild(story)
    return doc.page


def _sizes_paragraph(runs: list[ScenarioRun], meta: dict) -> str:
    sizes = "; ".join(f"{_e(r.name)} {r.sessions:,}" + (f" of {r.cfg.session.streams}" if r.cfg.session.streams > 1 else "")
                      for r in runs)
    text = (f"<b>Sample sizes.</b> Sessions simulated per scenario (streams per session where more than one): {sizes}. "
            f"Mode: {_e(meta['mode_text'])}. ")
    if runs[0].mode == "demonstrate":
        text += ("Each scenario ran the sessions and disconnects with which zero failures would PASS its completion "
                 "and recovery targets (the success-run sizes n = ln(1-C)/ln(target)), further batches being sized from "
                 "the disconnect rate seen so far, within a budget of "
                 f"{SINGLE_STREAM_BUDGET:,} sessions (single-stream) or {MULTI_STREAM_BUDGET_STREAMS:,} streams' worth "
                 "and at least the 299 sessions a p99 memory verdict needs (multi-stream; their completion, judged per "
                 "session, can then FAIL but not PASS). The stopping rule "
                 "counts trials, never their outcomes, so every verdict is judged once at the stated confidence. ")
    few = [r.name for r in runs if r.sessions < 299]
    if few:
        text += (f"With fewer than 299 sessions ({_e(', '.join(few))}) the p99 memory target, judged once per session, "
                 "cannot PASS whatever the data: run those scenarios with more sessions (or --until-decided) to decide it.")
    return text


METHODS_MODEL = [
    "<b>Engine.</b> Frames are computed in arrays between protocol events (departures, loss, retransmission, jitter "
    "and head-of-line delay as recurrences; the generation schedule in advance), about 50 events per 1,000-frame "
    "stream. A per-frame reference engine (one event per frame per hop, scalar code) gives identical tables on "
    "deterministic schedules and statistically indistinguishable ones on random scenarios (tests/test_engines.py).",
    "<b>Units and determinism.</b> Time is in seconds and sizes in bytes. One root seed feeds a tree of independent "
    "random generators, one per (stream, component), so a stream's history depends only on the seed and its index: "
    "adding streams or workers never changes earlier rows, and scenarios run with one seed see the same weather "
    "(common random numbers).",
    "<b>Network.</b> The condition (stable, unstable, poor) follows a continuous-time Markov chain with exponential "
    "sojourns; each condition sets loss, jitter and a disconnect rate. The preset values are assumptions meant to "
    "resemble wired broadband, busy Wi-Fi and congested mobile. Disconnects arrive as a Poisson process at the current "
    "condition's rate (scaled by disconnects.rate_scale), keep arriving while the client reconnects, and come in three "
    "kinds: a clean close (both ends know at once), a reset (known about one round trip later) and a silent half-open "
    "link. Each is followed by an outage (exponential, mean 1.5 s by default) in which packets are dropped and "
    "connection attempts fail.",
    "<b>Link.</b> A WebSocket over TCP: frames are serialised at the bandwidth in FIFO order; a lost transmission is "
    "resent after the RFC 6298 retransmission timeout (floor 1 s, doubling to 120 s, 15 retries), so loss shows up as "
    "delay and head-of-line blocking, never as a missing frame. Loss is Bernoulli or bursty (Gilbert-Elliott). A short "
    "silent outage becomes a stall the connection survives; a long one can outlast the heartbeat. TCP flow and "
    "congestion control are not modelled, and retransmissions take no extra bandwidth.",
    "<b>Server.</b> Frames are generated from the request's arrival at a fixed gap (50 frames/s by default). The "
    "replay buffer holds generated, unacknowledged frames, trimmed by cumulative acks; when full it blocks generation "
    "or evicts the oldest frames. After a break the buffer is kept for the retention time (120 s) and then freed unless "
    "the stream came back; a resume from a position no longer held is refused (resume_window_exceeded). Restart discards "
    "the buffer and generates the same response again.",
    "<b>Client.</b> Takes in arrived frames at protocol moments (acks, heartbeat checks, breaks), drops duplicates, "
    "treats a sequence gap as a protocol error and checks the response hash on completion. It notices a close at once, "
    "a reset after one round trip and a silent failure only when a heartbeat pong is late. It reconnects with a backoff "
    "policy (exponential with none, full, equal or decorrelated jitter, a cap, a maximum number of attempts and an "
    "overall deadline, ending in network_timeout); a reconnect's auth check can fail (auth_failure, not retried).",
    "<b>Measurement.</b> The recorder sees what the client cannot: recovery is judged against the frames the server had "
    "generated at the break, and server memory is traced at every server event, which is exact for its peak. A stream "
    "still running at the horizon is censored and counts as not completed; an unrecovered disconnect counts as "
    "infinitely slow.",
]

METHODS_STATS = [
    "<b>Rates</b> (completion, integrity, recovery, timeout handling) are judged with one-sided Clopper-Pearson "
    "(exact binomial) bounds at the SLO confidence C: PASS if the lower bound reaches the target, FAIL if the upper bound "
    "is below it, INCONCLUSIVE otherwise. Together the two bounds form a two-sided 2C-1 interval. For an inconclusive "
    "rate, the extra trials needed are found by projecting the observed rate to larger samples. With sessions of "
    "several streams, completion is judged per session: PASS if the lower bound on fully completed sessions reaches "
    "the target (a stream completes at least as often as its whole session), FAIL if even one failed stream per "
    "failing session would miss it.",
    "<b>Zero tolerance.</b> A target of 1 (integrity, timeout handling) cannot be demonstrated by any finite sample; it "
    "PASSes while no violation is seen and FAILs at the first. The reported lower bound (one-sided Clopper-Pearson at C) "
    "is the smallest success rate consistent with the clean sample.",
    "<b>Quantiles</b> (p99 reconnect, resume and recovery time, p99 server memory) are judged with distribution-free "
    "order-statistic bounds: the upper bound is the smallest order statistic whose rank makes P(X(k) &lt; x_q) at most "
    "1-C, and likewise below. PASS if the upper bound is under the target, FAIL if the lower bound is at or above it. "
    "With too few samples (0.99^n &gt; 1-C, i.e. fewer than 299 at 95 %) there is no upper bound, so a p99 target cannot "
    "PASS. Unrecovered disconnects enter as infinite times. Memory is one sample per session (all of its streams' "
    "buffers together).",
    "<b>Demonstration sizes</b> (the default). Each scenario runs the success-run sizes n = ln(1-C)/ln(target) that let "
    "zero failures PASS its rate targets: 5,990 sessions for 99.95 % completion and, through further batches sized "
    "from the disconnect rate seen so far, 2,995 disconnects for 99.9 % recovery, within a budget. The rule stops on "
    "counts of trials, never on their outcomes, so each verdict is judged once at the stated confidence (a weak link "
    "remains: a stream that recovers slowly lives longer and meets more disconnects).",
    "<b>Sequential looks</b> (until-decided mode). Batches double from a first batch up to a budget, with the number "
    "of looks fixed in advance; each look judges at the Bonferroni-corrected confidence 1-(1-C)/L, so stopping at the "
    "first look where every verdict is decided keeps the overall error at most 1-C whatever the dependence between "
    "looks, at the price of wider intervals at each look.",
    "<b>Estimates tables</b> show two-sided C-level intervals (Clopper-Pearson for rates, order statistics for "
    "quantiles, Student t for the mean of the finite values); they describe the data and are not the decision rule.",
]


# ---------------------------------------------------------------- the sweep

def _sweep(run: ScenarioRun, sessions: int, seed: int, extra: list[str], workers, progress) -> dict:
    grid = {"disconnects.rate_scale": list(SWEEP_RATE_SCALES), "client.strategy": list(SWEEP_STRATEGIES)}
    res = runner.sweep(run.cfg, grid, sessions, seed, workers=workers, progress=progress)
    fig = figures.completion_vs_disconnect_rate(res.streams, "disconnects.rate_scale", run.cfg, confidence=run.cfg.slo.confidence)
    s = res.streams
    s = s.assign(done=s.outcome == "completed", t=s.completion_time.astype(float) - s.start_time.astype(float))
    rows = [["rate_scale", "strategy", "completed", "median time (s)", "disconnects / stream", "failed / censored"]]
    order = {k: i for i, k in enumerate(SWEEP_STRATEGIES)}
    groups = sorted(s.groupby(["disconnects.rate_scale", "client.strategy"]), key=lambda kv: (kv[0][0], order[kv[0][1]]))
    for (scale, strategy), g in groups:
        rows.append([f"{scale:g}", strategy, _pct(g.done.mean()),
                     f"{stats.quantile_interval(g.t[g.done].to_numpy(), 0.5)[0]:.1f}" if g.done.any() else "-", f"{g.disconnects.mean():.2f}",
                     f"{int((g.outcome == 'failed').sum())} / {int((g.outcome == 'censored').sum())}"])
    sets = "".join(f" --set {o}" for o in extra)
    command = (f"midstream sweep {run.name} --streams {sessions} --seed {seed}{sets} --vary disconnects.rate_scale="
               + ",".join(f"{x:g}" for x in SWEEP_RATE_SCALES) + " --vary client.strategy=" + ",".join(SWEEP_STRATEGIES))
    return {"scenario": run.name, "scales": SWEEP_RATE_SCALES, "sessions": sessions, "figure": fig, "rows": rows,
            "command": command}


# ---------------------------------------------------------------- entry point

def build_report(scenarios: list[str] | None = None, streams: int | None = None, until_decided: bool = False,
                 budget: int | None = None, seed: int = 0, out_path: str | Path = DEFAULT_OUT,
                 workers: int | None = None, progress: bool = True, overrides: list[str] | dict | None = None,
                 sweep: bool = True, sweep_streams: int | None = None, validate: bool = True) -> Path:
    """Run the scenarios and write the PDF report to `out_path`; returns its path.

    scenarios: names (default: every scenario in the catalogue, in catalogue order).
    streams: a fixed number of sessions per scenario, as `midstream run --streams`.
    until_decided / budget: without `streams`, each scenario runs as `midstream run --demonstrate
        --budget B` (default) or, with `until_decided`, in doubling batches until its verdicts are
        decided, as `midstream run --until-decided --budget B`; B defaults to `default_budget`.
    overrides: `path=value` settings applied to every scenario after its own (e.g. a smaller
        `content.frames` for a quick look).
    sweep: add the resume-against-restart sweep (on text-interruption, or the first single-stream
        scenario), `sweep_streams` per point (default min(300, that scenario's sessions)).
    validate: run `model.validation` (quick sizes) for the appendix when that module exists.
    """
    started = time.perf_counter()
    names = list(SCENARIOS) if scenarios is None else list(scenarios)
    if not names:
        raise ValueError("scenarios=[]: name at least one scenario")
    for name in names:
        get_scenario(name)  # unknown names fail before any simulation
    extra = _overrides_list(overrides)
    for name in names:
        apply_overrides(get_scenario(name), extra)  # bad overrides fail before any simulation
    if streams is not None and (not isinstance(streams, int) or streams < 1):
        raise ValueError(f"streams={streams!r}: a whole number >= 1, or None for the defaults")
    out = Path(out_path)
    if out.suffix.lower() != ".pdf":
        raise ValueError(f"out_path={str(out)!r}: the file name must end in .pdf")
    out.parent.mkdir(parents=True, exist_ok=True)
    say = (lambda msg: tqdm.write(msg, file=sys.stderr)) if progress else (lambda msg: None)

    stages: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[stage] = round(now - clock, 2)
        clock = now

    runs = []
    for name in names:
        say(f"report: simulating {name}")
        runs.append(run_scenario(name, seed, streams, extra, until_decided, budget, workers, progress))
    lap("simulate")
    say("report: drawing figures")
    for r in runs:
        _scenario_figures(r)
    _special_figures(runs)
    lap("figures")
    sweep_info = None
    base = _first(SWEEP_SCENARIO, runs, lambda r: r.cfg.session.streams == 1)
    if sweep and base is not None:
        say(f"report: sweeping {base.name} (resume against restart)")
        n = sweep_streams or min(SWEEP_SESSIONS, base.sessions)
        sweep_info = _sweep(base, n, seed, extra, workers, progress)
    lap("sweep")
    if validate:
        say("report: validation against theory")
        validation = validation_rows(quick=True, workers=workers)
    else:
        validation = (None, "Validation against theory was not run for this report; run `midstream validate`.")
    lap("validation")

    first = runs[0].provenance
    mode_text = (f"fixed: {streams:,} sessions per scenario" if streams else
                 "until decided (doubling batches, Bonferroni looks)" if until_decided else
                 "demonstration sizes (completion and recovery targets), within a session budget")
    meta = {"created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seed": seed,
            "overrides": extra, "mode_text": mode_text, "git_commit": first.get("git_commit"),
            "python": first.get("python", ""), "workers": workers or "all cores", "wall_seconds": 0.0,
            "stage_seconds": stages}
    say(f"report: writing {out}")
    meta["wall_seconds"] = time.perf_counter() - started
    pages = _render(out, runs, sweep_info, validation, meta)
    lap("render")
    _write_sidecar(out, runs, meta, pages, sweep_info)
    say(f"report: {out} ({pages} pages, {time.perf_counter() - started:.0f} s)")
    return out


def _jsonable(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records"))


def _write_sidecar(out: Path, runs: list[ScenarioRun], meta: dict, pages: int, sweep_info) -> None:
    data = {
        **{k: v for k, v in meta.items()}, "version": __version__, "pages": pages,
        "scenarios": {r.name: {"sessions": r.sessions, "streams": len(r.results.streams),
                               "disconnects": len(r.results.disconnects), "mode": r.mode, "budget": r.budget,
                               "seconds": round(r.seconds, 2), "command": r.command, "provenance": r.provenance,
                               "verdicts": _jsonable(r.verdicts)} for r in runs},
        "sweep": None if sweep_info is None else {"scenario": sweep_info["scenario"], "sessions": sweep_info["sessions"],
                                                  "command": sweep_info["command"]},
    }
    Path(f"{out}.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
