"""The reliability report: run the standard scenarios, write a PDF of verdicts, estimates, figures.

    from model.report import build_report
    build_report(seed=1, out_path="reports/reliability.pdf")

or `midstream report --seed 1 --out reports/reliability.pdf`.

Each scenario is run exactly as `midstream run` runs it (`sequential.run_sized`, the call the
command makes), so the verdicts in the PDF are the ones the command prints. Sizes count sessions
(replications), as on the command line; a multi-stream scenario's session holds `session.streams`
streams.

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
methods and assumptions, an appendix of validation against theory (`model.validation`) and the
provenance. A JSON sidecar `OUT.pdf.json` holds the provenance and verdict tables.

Modules: `running` (scenarios and validation cases, run as the command line runs them),
`narrative` (computed text), `pdf` (reportlab building blocks), `sections` (the sections and their
order), `build` (`build_report`: the whole pipeline, and the choice of figures).
"""

from model.report.build import DEFAULT_OUT, SWEEP_RATE_SCALES, build_report
from model.report.running import (
    MULTI_STREAM_BUDGET_STREAMS,
    SINGLE_STREAM_BUDGET,
    ScenarioRun,
    default_budget,
    run_scenario,
    validation_rows,
)

__all__ = [
    "build_report",
    "default_budget",
    "run_scenario",
    "validation_rows",
    "ScenarioRun",
    "SINGLE_STREAM_BUDGET",
    "MULTI_STREAM_BUDGET_STREAMS",
    "SWEEP_RATE_SCALES",
    "DEFAULT_OUT",
]
