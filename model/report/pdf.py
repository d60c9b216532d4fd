"""PDF building blocks (reportlab platypus): styles, tables, figures as PNG, headings, the document.

Real text and tables, figures embedded as 200 dpi PNG, headings that feed the table of contents
and the PDF outline. reportlab is imported inside the functions, so importing the report package
does not load it.
"""

from __future__ import annotations

import io
import multiprocessing
from pathlib import Path
from xml.sax.saxutils import escape

from model import __version__, figures
from model.runner import Alongside

DPI = 200
_AHEAD: list = []  # the figures `rasterise` hands a forked worker (it inherits them)


def rasterise(figs: list) -> None:
    """Rasterise the figures ahead of the story (`_image` takes the PNG): every other one in a
    worker forked alongside, since rasterising is most of a report's rendering and one core
    would otherwise sit idle (where processes are spawned, not forked, all of them here)."""
    global _AHEAD
    if multiprocessing.get_start_method() != "fork" or len(figs) < 2:
        pngs = [figures.png_bytes(fig, DPI) for fig in figs]
    else:
        _AHEAD = figs
        try:
            with Alongside(_png_every_other, 1) as other:
                here = _png_every_other(0)
                pngs = [None] * len(figs)
                pngs[0::2], pngs[1::2] = here, other.result()
        finally:
            _AHEAD = []
    for fig, png in zip(figs, pngs):
        fig.report_png = png


def _png_every_other(start: int) -> list[bytes]:
    return [figures.png_bytes(fig, DPI) for fig in _AHEAD[start::2]]


def _styles():
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet

    ss = getSampleStyleSheet()
    st = {
        "title": ParagraphStyle("T", parent=ss["Title"], fontSize=24, leading=30, spaceAfter=12),
        "subtitle": ParagraphStyle(
            "ST", parent=ss["Normal"], fontSize=13, leading=18, textColor=colors.HexColor("#444444")
        ),
        "h1": ParagraphStyle(
            "H1", parent=ss["Heading1"], fontSize=16, leading=20, spaceBefore=6, spaceAfter=8
        ),
        "h2": ParagraphStyle(
            "H2", parent=ss["Heading2"], fontSize=12.5, leading=16, spaceBefore=10, spaceAfter=4
        ),
        "h3": ParagraphStyle(
            "H3", parent=ss["Heading3"], fontSize=10.5, leading=13, spaceBefore=6, spaceAfter=3
        ),
        "body": ParagraphStyle(
            "B", parent=ss["BodyText"], fontSize=9.5, leading=12.5, spaceAfter=5
        ),
        "bullet": ParagraphStyle(
            "BL",
            parent=ss["BodyText"],
            fontSize=9.5,
            leading=12.5,
            leftIndent=12,
            bulletIndent=2,
            spaceAfter=2,
        ),
        "caption": ParagraphStyle(
            "C",
            parent=ss["BodyText"],
            fontSize=8.3,
            leading=10.5,
            textColor=colors.HexColor("#333333"),
            fontName="Helvetica-Oblique",
            spaceAfter=8,
        ),
        "cell": ParagraphStyle("cell", parent=ss["BodyText"], fontSize=7.6, leading=9.2),
        "cellb": ParagraphStyle(
            "cellb", parent=ss["BodyText"], fontSize=7.6, leading=9.2, fontName="Helvetica-Bold"
        ),
        "small": ParagraphStyle("small", parent=ss["BodyText"], fontSize=6.6, leading=8),
        "smallb": ParagraphStyle(
            "smallb", parent=ss["BodyText"], fontSize=6.6, leading=8, fontName="Helvetica-Bold"
        ),
        "mono": ParagraphStyle("M", parent=ss["Code"], fontSize=7.8, leading=9.6),
    }
    return st


STATUS_COLOURS = {
    "PASS": "#c7e9c0",
    "FAIL": "#fcbba1",
    "INCONCLUSIVE": "#fee391",
    "N/A": "#f0f0f0",
    "yes": "#c7e9c0",
    "NO": "#fcbba1",
    "agree": "#c7e9c0",
    "differ": "#fcbba1",
}
MATRIX_LABEL = {"PASS": "PASS", "FAIL": "FAIL", "INCONCLUSIVE": "INCONCL.", "N/A": "n/a"}


def _p(text: str, style, **kw):
    from reportlab.platypus import Paragraph

    return Paragraph(text, style, **kw)


def _e(text) -> str:
    return escape(str(text))


def _table(
    rows: list[list],
    widths,
    st,
    header_rows: int = 1,
    status_col: int | None = None,
    small: bool = False,
):
    """A platypus table of Paragraph cells with a shaded header; status cells coloured."""
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    head, body = ("smallb", "small") if small else ("cellb", "cell")
    cells = [
        [
            c if not isinstance(c, str) else _p(_e(c), st[head] if i < header_rows else st[body])
            for c in row
        ]
        for i, row in enumerate(rows)
    ]
    t = Table(cells, colWidths=widths, repeatRows=header_rows, hAlign="LEFT")
    style = [
        ("BACKGROUND", (0, 0), (-1, header_rows - 1), colors.HexColor("#e5e5e5")),
        ("LINEBELOW", (0, header_rows - 1), (-1, header_rows - 1), 0.6, colors.HexColor("#888888")),
        ("LINEBELOW", (0, header_rows), (-1, -1), 0.25, colors.HexColor("#dddddd")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    if status_col is not None:
        for i, row in enumerate(rows[header_rows:], start=header_rows):
            colour = STATUS_COLOURS.get(str(row[status_col]))
            if colour:
                style.append(
                    ("BACKGROUND", (status_col, i), (status_col, i), colors.HexColor(colour))
                )
    t.setStyle(TableStyle(style))
    return t


def _image(fig, width_in: float):
    from reportlab.lib.units import inch
    from reportlab.platypus import Image

    w, h = fig.get_size_inches()
    png = getattr(fig, "report_png", None) or figures.png_bytes(fig, DPI)
    return Image(
        io.BytesIO(png),
        width=width_in * inch,
        height=width_in * h / w * inch,
    )


class _Counter:
    def __init__(self):
        self.n = 0

    def next(self) -> int:
        self.n += 1
        return self.n


def _figure_block(fig, st, counter: _Counter, width_in: float = 6.5) -> list:
    from reportlab.platypus import KeepTogether

    k = counter.next()
    return [
        KeepTogether(
            [_image(fig, width_in), _p(f"<b>Figure {k}.</b> {_e(fig.caption)}", st["caption"])]
        )
    ]


def _pair_block(a, b, st, counter: _Counter) -> list:
    from reportlab.lib.units import inch
    from reportlab.platypus import Table, TableStyle

    ka, kb = counter.next(), counter.next()
    cell = lambda fig, k: [
        _image(fig, 3.2),
        _p(f"<b>Figure {k}.</b> {_e(fig.caption)}", st["caption"]),
    ]
    t = Table([[cell(a, ka), cell(b, kb)]], colWidths=[3.3 * inch, 3.3 * inch], hAlign="LEFT")
    t.setStyle(
        TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)])
    )
    return [t]


def _document(path: Path, title: str):
    """An A4 BaseDocTemplate with a footer, PDF outline entries and table-of-contents
    notifications."""
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

    doc = Doc(
        str(path),
        pagesize=A4,
        title=title,
        author=f"midstream {__version__}",
        subject="Reliability of streaming responses cut mid-stream",
        leftMargin=2 * cm,
        rightMargin=2 * cm,
        topMargin=1.8 * cm,
        bottomMargin=1.8 * cm,
    )
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
