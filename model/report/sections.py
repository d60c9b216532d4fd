"""The report's sections, in order, and `_render`, which lays them out into the PDF.

Each `_*_section` returns a list of platypus flowables; a new section is a function here added to
`_render`'s story.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from model import __version__
from model.report.narrative import (
    METHODS_MODEL,
    METHODS_STATS,
    _num,
    _short_slo,
    _sizes_paragraph,
    reading,
)
from model.report.pdf import (
    MATRIX_LABEL,
    STATUS_COLOURS,
    _Counter,
    _document,
    _e,
    _figure_block,
    _heading,
    _p,
    _pair_block,
    _styles,
    _table,
    rasterise,
)
from model.report.running import ScenarioRun
from model.scenarios import ENTRIES


def _verdict_rows(table: pd.DataFrame) -> list[list]:
    head = ["SLO", "target", "status", "estimate", "lower", "upper", "n", "more streams", "by"]
    rows = [head]
    for r in table.itertuples():
        by = getattr(r, "decided_by", "crude MC")
        rows.append(
            [
                r.slo,
                r.target,
                r.status,
                _num(r.estimate),
                _num(r.lower),
                _num(r.upper),
                _num(int(r.n)),
                "-"
                if r.more_streams is None
                or (isinstance(r.more_streams, float) and math.isnan(r.more_streams))
                else f"{int(r.more_streams):,}",
                "IS" if by == "importance sampling" else "MC",
            ]
        )
    return rows


def _importance_notes(table: pd.DataFrame) -> str:
    """How each verdict decided by importance sampling was reached (its method, tilt and
    diagnostics), for the line under the verdict table."""
    if "decided_by" not in table:
        return ""
    rows = table[table.decided_by == "importance sampling"]
    return " ".join(f"{r.slo}: {r.method}." for r in rows.itertuples())


def _estimate_rows(est: pd.DataFrame) -> list[list]:
    shown = est[
        (est.method != "wilson") & est.statistic.isin(["rate", "p50", "p99", "mean (finite)"])
    ]
    unit = {"reconnect_time": "s", "resume_time": "s", "recovery_time": "s", "buffer_bytes": "B"}
    rows = [["measure", "statistic", "n", "estimate", "lower", "upper", "unit", "method"]]
    for r in shown.itertuples():
        rows.append(
            [
                r.measure,
                r.statistic,
                _num(int(r.n)),
                _num(r.estimate),
                _num(r.lower),
                _num(r.upper),
                unit.get(r.measure, "fraction"),
                r.method,
            ]
        )
    return rows


def _settings_rows(run: ScenarioRun, extra: list[str]) -> list[list]:
    entry = ENTRIES.get(run.name)
    rows = [["setting", "value", "why"]]
    if entry is not None:
        for path, value in entry.overrides.items():
            rows.append([path, str(value), entry.why.get(path, "")])
    for item in extra:
        path, _, value = item.partition("=")
        rows.append(
            [path.strip(), value.strip(), "report-wide override (applies to every scenario)"]
        )
    return rows


def _title_section(runs: list[ScenarioRun], meta: dict, st) -> list:
    """Title page and contents."""
    from reportlab.lib.units import inch
    from reportlab.platypus import PageBreak, Spacer
    from reportlab.platypus.tableofcontents import TableOfContents

    story: list = []
    story += [
        Spacer(1, 1.6 * inch),
        _p("midstream reliability report", st["title"]),
        _p(
            "Streaming responses cut mid-stream: do they come back complete, intact and fast "
            "enough, and how sure are we?",
            st["subtitle"],
        ),
        Spacer(1, 0.4 * inch),
    ]
    info = [
        ["created", meta["created_utc"]],
        ["package", f"midstream {__version__}"],
        ["seed", str(meta["seed"])],
        ["scenarios", ", ".join(r.name for r in runs)],
        ["mode", meta["mode_text"]],
        ["git commit", meta.get("git_commit") or "unknown"],
    ]
    if meta["overrides"]:
        info.append(["overrides", "; ".join(meta["overrides"])])
    story.append(_table([["", ""]] + info, [1.3 * inch, 5.0 * inch], st, header_rows=1))
    story += [
        Spacer(1, 0.3 * inch),
        _p(
            "A discrete-event model (SimPy) of a client, a network link and a server with loss, "
            "jitter, disconnects and outages, and a resumable streaming protocol. Every number "
            "here comes from seeded, reproducible simulation of that model, not from measurements "
            "of a real system.",
            st["body"],
        ),
        PageBreak(),
    ]
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
    mt = _table(
        matrix,
        [1.45 * inch] + [(6.6 - 1.45) / max(1, len(slo_names)) * inch] * len(slo_names),
        st,
        small=True,
    )
    for i, row in enumerate(matrix[1:], start=1):
        for j, v in enumerate(row[1:], start=1):
            full = {label: status for status, label in MATRIX_LABEL.items()}.get(v)
            if full in STATUS_COLOURS:
                mt.setStyle(
                    TableStyle(
                        [("BACKGROUND", (j, i), (j, i), colors.HexColor(STATUS_COLOURS[full]))]
                    )
                )
    pass_n = sum((r.verdicts.status == "PASS").sum() for r in runs)
    fail_n = sum((r.verdicts.status == "FAIL").sum() for r in runs)
    inc_n = sum((r.verdicts.status == "INCONCLUSIVE").sum() for r in runs)
    na_n = sum((r.verdicts.status == "N/A").sum() for r in runs)
    total = pass_n + fail_n + inc_n
    story.append(
        _p(
            f"{len(runs)} scenarios, {total} SLO verdicts: <b>{pass_n} PASS</b>, <b>{fail_n} "
            f"FAIL</b>, <b>{inc_n} INCONCLUSIVE</b> ({na_n} more SLOs had nothing to judge: n/a). "
            "Each verdict compares a one-sided "
            f"{'%g %%' % (confidence * 100) if confidence else 'per-scenario'} confidence bound "
            "with the target (targets: the seed's SLOs; see each table).",
            st["body"],
        )
    )
    story += [
        mt,
        _p(
            "INCONCL. = INCONCLUSIVE; n/a = no trials (no give-ups to judge timeout handling by, "
            "no disconnects to time). Column labels: the SLO (rates) or the quantile and measure "
            "the target applies to.",
            st["caption"],
        ),
    ]
    story.append(
        _p(
            "<b>What the verdicts mean.</b> PASS: the one-sided bound on the wrong side of the "
            "target clears it (for a rate, the lower bound is at least the target; for a p99 "
            "latency or memory target, the upper bound is below it). If the model's true value "
            "missed the target, evidence this strong would appear in at most "
            f"{100 * (1 - (confidence or 0.95)):.0f} % of runs. FAIL is the mirror image: the "
            "bound on the good side is already on the wrong side of the target. INCONCLUSIVE: "
            "the simulated streams cannot tell either way; for rates, <i>more streams</i> says "
            "how many extra trials would decide it if the observed rate held. Zero-tolerance "
            "targets (a rate of 1) PASS while no violation is seen and FAIL at the first; the "
            "lower bound shown says how large a violation rate the clean sample still allows.",
            st["body"],
        )
    )
    story.append(
        _p(
            "<b>What they do not promise.</b> They are statements about the model under its "
            "assumed network conditions, disconnect rates, outage lengths and protocol settings "
            "(see Methods), not about a production system: the intervals cover simulation noise "
            "only, not error in those assumptions. The confidence applies to each verdict on its "
            "own; across a table of many verdicts a few may be wrong by chance. In multi-stream "
            "scenarios the streams of one session share their network and their disconnects: "
            "completion is then judged with the session as the trial (conservative, valid "
            "whatever the correlation) and memory per session, but recovery success still counts "
            "disconnects as independent, so its interval is narrower than the evidence warrants. "
            "A PASS on a zero-tolerance target is not a proof that failures cannot happen.",
            st["body"],
        )
    )
    story.append(_heading("Verdicts with intervals", st["h2"], 1))
    story.append(
        _p(
            "Per scenario: the SLO, its target, the verdict, the estimate, the one-sided lower "
            "and upper bounds the decision used, the number of trials (streams, disconnects or "
            "sessions) and, for inconclusive rates, the extra trials that would decide it. These "
            "are the tables `midstream run` prints for the same streams and seed (command under "
            "each).",
            st["body"],
        )
    )
    widths = [
        1.35 * inch,
        0.7 * inch,
        0.9 * inch,
        0.65 * inch,
        0.65 * inch,
        0.65 * inch,
        0.55 * inch,
        0.7 * inch,
        0.3 * inch,
    ]
    for r in runs:
        note = f"one-sided bounds at {r.verdicts.confidence.iloc[0]:.4g}" + (
            f" per look ({int(r.verdicts.looks_planned.iloc[0])} planned looks, overall "
            f"{r.verdicts.stated_confidence.iloc[0]:.0%})"
            if "looks_planned" in r.verdicts
            else ""
        )
        story.append(
            KeepTogether(
                [
                    _p(
                        f"<b>{_e(r.name)}</b> - {r.sessions:,} sessions, "
                        f"{len(r.results.streams):,} streams, {len(r.results.disconnects):,} "
                        f"disconnects; {note}",
                        st["h3"],
                    ),
                    _table(_verdict_rows(r.verdicts), widths, st, status_col=2),
                    _p(
                        f"<font face='Courier'>{_e(r.command)}</font> "
                        + _e(_importance_notes(r.verdicts)),
                        st["caption"],
                    ),
                ]
            )
        )
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
        story.append(
            _p(_e(ENTRIES[r.name].summary if r.name in ENTRIES else r.cfg.description), st["body"])
        )
        rows = _settings_rows(r, meta["overrides"])
        story.append(
            _p(
                "<b>Non-default configuration</b> (everything else as in <font "
                f"face='Courier'>midstream describe {_e(r.name)}</font>):",
                st["body"],
            )
        )
        if len(rows) > 1:
            story.append(_table(rows, [1.9 * inch, 0.8 * inch, 3.8 * inch], st))
        else:
            story.append(_p("none: the default configuration.", st["body"]))
        story.append(Spacer(1, 4))
        story.append(_p("<b>Reading.</b>", st["body"]))
        for sentence in reading(r):
            story.append(_p(_e(sentence), st["bullet"], bulletText="\u2022"))
        story.append(Spacer(1, 4))
        story.append(
            KeepTogether(
                [
                    _p(
                        f"<b>Estimates</b> (two-sided {r.cfg.slo.confidence:.0%} intervals: "
                        "Clopper-Pearson for rates, order statistics for quantiles, Student t "
                        "for means of the finite values; unrecovered disconnects count as "
                        "infinite in the quantiles):",
                        st["body"],
                    ),
                    _table(
                        _estimate_rows(r.estimates),
                        [
                            1.35 * inch,
                            0.8 * inch,
                            0.5 * inch,
                            0.7 * inch,
                            0.7 * inch,
                            0.7 * inch,
                            0.55 * inch,
                            1.0 * inch,
                        ],
                        st,
                    ),
                ]
            )
        )
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
    story.append(
        _p(
            f"The <b>{_e(sweep_info['scenario'])}</b> scenario run at disconnect-rate multipliers "
            f"{', '.join(f'{x:g}' for x in sweep_info['scales'])} (disconnects.rate_scale) with "
            "the client resuming from its last frame or restarting the response from scratch; "
            f"{sweep_info['sessions']:,} streams per point, seed {meta['seed']}, the same weather "
            "for both strategies (common random numbers). Command: <font "
            f"face='Courier'>{_e(sweep_info['command'])}</font>",
            st["body"],
        )
    )
    story += _figure_block(sweep_info["figure"], st, fig_no)
    story.append(
        _table(
            sweep_info["rows"],
            [1.2 * inch, 0.8 * inch, 0.8 * inch, 1.1 * inch, 1.2 * inch, 1.2 * inch],
            st,
        )
    )
    story.append(PageBreak())
    return story


def _remedies_section(remedies: list, meta: dict, st) -> list:
    """What would make it pass: the cheapest change a small search found for each scenario's
    FAILs."""
    from reportlab.lib.units import inch

    from model.report import remedies as rem

    story: list = [_heading("What would make it pass", st["h1"], 0)]
    story.append(
        _p(
            f"For every scenario with a FAIL, a small search (`midstream tune`, {rem.TRIALS} "
            "candidates, each judged as <font face='Courier'>midstream run --until-decided</font> "
            f"judges within a budget of at most {rem.SESSIONS:,} sessions, seed {meta['seed']}) "
            "over the settings that move the failing measures, for the least cost: "
            f"{_e(rem.COST_TEXT)}. A change qualifies when every failing latency or memory target "
            "PASSes and no verdict FAILs; at this size a tight rate target can only stop failing, "
            "so confirm a change with a full run. The command given searches wider. No search is "
            "made where the network itself rules a failing target out: a disconnect cannot "
            "reconnect, let alone recover, before the outage it met is over.",
            st["body"],
        )
    )
    for r in remedies:
        story.append(_heading(r.scenario, st["h2"], 1))
        found = r.best
        text = f"FAIL: {_e(', '.join(r.failing))}. " + (
            _network_bound_text(r.network_bound) if r.network_bound else _search_text(r)
        )
        story.append(_p(text, st["body"]))
        if found is not None:
            rows = [["SLO", "status", "estimate", "n"]] + [
                [v["slo"], v["status"], _num(v["estimate"]), f"{v['n']:,}"] for v in found.verdicts
            ]
            story.append(_table(rows, [2.2 * inch, 1.1 * inch, 1.2 * inch, 0.8 * inch], st,
                                status_col=1, small=True))  # fmt: skip
        if not r.network_bound:
            full = f"Full search: <font face='Courier'>{_e(r.command)}</font>"
            story.append(_p(full, st["body"]))
    return story


def _search_text(r) -> str:
    """What the search over the remedy's knobs found."""
    ranges = ", ".join(f"{k.path} in [{k.lo:g}, {k.hi:g}]" for k in r.knobs) or "none"
    text = f"Searched: {_e(ranges)} ({r.sessions:,} sessions per candidate, {r.seconds:.0f} s). "
    if not r.knobs:
        return text + "No setting in the search moves these measures."
    found, near = r.best, r.closest
    if found is None:
        short = [f"{v['slo']} {v['status']}" for v in near.verdicts if v["status"] == "FAIL"]
        return text + (
            "<b>No change found in range.</b> Closest: "
            f"<font face='Courier'>{_e(' '.join(near.assignments()))}</font>"
            + (f", still {_e('; '.join(short))}." if short else ", still undecided.")
        )
    return text + (
        f"<b>Cheapest change found</b> (cost {found.cost:.3g}, now {r.baseline_cost:.3g}): "
        f"<font face='Courier'>{_e(' '.join('--set ' + a for a in found.assignments()))}"
        "</font>, with these verdicts:"
    )


def _network_bound_text(bounds: list) -> str:
    """Why no search was made: the network itself rules these targets out."""
    parts = [
        f"{_e(b.slo)} &lt; {b.target:g} s lets {100 * b.allowed:.3g} % of the disconnects take "
        "longer, "
        f"but after {b.share:.1%} of the {b.disconnects:,} breaks (at least {b.lower:.1%} at "
        f"{b.confidence:.0%} confidence) the network itself stayed unreachable longer than "
        f"that: the outages alone put its {_e(b.slo.split()[0])} at {b.floor:.3g} s or more"
        for b in bounds
    ]
    return (
        "<b>Not searched: the network rules it out.</b> "
        + "; ".join(parts)
        + ". Nobody connects through an outage, so no client or server setting meets these "
        "targets (short of adding enough fast-recovering disconnects to dilute them): relax the "
        "target or shorten the outages (disconnects.outage)."
    )


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
        head = [
            "case (and how the expected value is derived)",
            "expected",
            "estimate",
            "lower",
            "upper",
            "agree",
        ]
        body = [head]
        for row in rows:
            case = f"<b>{_e(row.get('case', ''))}</b>"
            if row.get("note"):
                case += f"<br/><font size='6.3' color='#555555'>{_e(row['note'])}</font>"
            value = lambda k: row.get(k) if isinstance(row.get(k), str) else _num(row.get(k))
            body.append(
                [
                    _p(case, st["cell"]),
                    value("expected"),
                    value("estimate"),
                    value("lower"),
                    value("upper"),
                    "yes" if row.get("agree") else "NO",
                ]
            )
        story.append(
            _table(
                body,
                [3.35 * inch, 0.7 * inch, 0.7 * inch, 0.65 * inch, 0.65 * inch, 0.45 * inch],
                st,
                status_col=5,
            )
        )
        bad = [row.get("case") for row in rows if not row.get("agree")]
        story.append(
            _p(
                f"{len(rows) - len(bad)} of {len(rows)} cases agree with theory"
                + (f"; disagreeing: {_e(', '.join(map(str, bad)))}." if bad else "."),
                st["body"],
            )
        )
    return story


def _provenance_section(runs: list[ScenarioRun], meta: dict, st) -> list:
    """Appendix B: provenance."""
    from reportlab.lib.units import inch
    from reportlab.platypus import Spacer

    story: list = []
    story.append(_heading("Appendix B. Provenance", st["h1"], 0))
    prov = [
        ["", ""],
        ["created (UTC)", meta["created_utc"]],
        ["package version", __version__],
        ["git commit", meta.get("git_commit") or "unknown"],
        ["python", meta.get("python", "")],
        ["root seed", str(meta["seed"])],
        ["mode", meta["mode_text"]],
        ["preset", meta.get("preset") or "none"],
        ["report-wide overrides", "; ".join(meta["overrides"]) or "none"],
        ["workers", str(meta["workers"])],
        ["wall time", f"{meta['wall_seconds']:.0f} s (up to writing this PDF)"],
    ]
    story.append(_table(prov, [1.6 * inch, 4.9 * inch], st))
    story.append(Spacer(1, 6))
    rows = [["scenario", "sessions", "streams", "disconnects", "seconds", "command"]]
    for r in runs:
        rows.append(
            [
                r.name,
                f"{r.sessions:,}",
                f"{len(r.results.streams):,}",
                f"{len(r.results.disconnects):,}",
                f"{r.seconds:.1f}",
                r.command,
            ]
        )
    story.append(
        _table(rows, [1.3 * inch, 0.6 * inch, 0.6 * inch, 0.7 * inch, 0.55 * inch, 2.75 * inch], st)
    )
    story.append(
        _p(
            "Every stream depends only on (seed, stream index): the commands above reproduce each "
            "verdict table exactly, whatever the number of workers. Where the workers are "
            "processes on this machine, two scenarios are simulated at a time on one pool, so "
            "their seconds overlap. The JSON file next to this PDF holds the same provenance and "
            "verdict tables in machine-readable form.",
            st["body"],
        )
    )
    return story


def _fidelity_section(cal, st, fig_no) -> list:
    """The model against a real stack, from a `midstream calibrate --out` directory."""
    from reportlab.lib.units import inch
    from reportlab.platypus import PageBreak

    from model import fidelity as fid

    story = [
        _heading("Fidelity against a real stack", st["h1"], 0),
        _p(_e(fid.reading(cal.table, cal.checks)), st["body"]),
    ]
    widths = {
        "estimates": (1.9, 0.8, 1.3, 0.4, 1.3, 0.4, 0.6),
        "comparison": (1.9, 1.3, 0.9, 0.45, 0.5, 0.45, 0.5, 0.5),
        "checks": (1.6, 2.5, 0.55, 0.55, 0.55, 0.5),
    }
    for rows, kind, status in (
        (fid.estimate_rows(cal.table), "estimates", None),
        (fid.comparison_rows(cal.table), "comparison", 7),
        (fid.check_rows(cal.checks), "checks", 5),
    ):
        story.append(
            _table(rows, [w * inch for w in widths[kind]], st, small=True, status_col=status)
        )
    story += _figure_block(cal.figure(), st, fig_no)
    story.append(
        _table(fid.provenance_rows(cal.provenance), [1.6 * inch, 4.9 * inch], st, small=True)
    )
    return story + [PageBreak()]


def _render(
    path: Path,
    runs: list[ScenarioRun],
    sweep_info: dict | None,
    validation: tuple,
    meta: dict,
    calibration=None,
    remedies: list | None = None,
) -> int:
    st = _styles()
    fig_no = _Counter()
    ahead = [fig for r in runs for _, fig in r.figures]
    rasterise(ahead + ([sweep_info["figure"]] if sweep_info is not None else []))
    conf = {r.cfg.slo.confidence for r in runs}
    confidence = conf.pop() if len(conf) == 1 else None
    story = (
        _title_section(runs, meta, st)
        + _summary_section(runs, confidence, st)
        + _scenario_sections(runs, meta, st, fig_no)
    )
    if remedies:
        story += _remedies_section(remedies, meta, st)
    if sweep_info is not None:
        story += _sweep_section(sweep_info, meta, st, fig_no)
    if calibration is not None:
        story += _fidelity_section(calibration, st, fig_no)
    story += (
        _methods_section(runs, meta, st)
        + _validation_section(validation, st)
        + _provenance_section(runs, meta, st)
    )
    doc = _document(path, "midstream reliability report")
    doc.multiBuild(story)
    return doc.page
