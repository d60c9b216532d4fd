"""Running the report's scenarios, each exactly as `midstream run` runs it, and validation cases.

Sizes count sessions (replications), as on the command line; a multi-stream scenario's session
holds `session.streams` streams. The size of each run is decided by `sequential.run_sized`, the
function `midstream run` calls, so the verdicts in the report are the ones the command prints.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import pandas as pd

from model import runner, slo, validation
from model.config import Scenario, apply_overrides
from model.scenarios import get_scenario
from model.sequential import RunSize, memory_sessions, run_sized
from model.simulation import Results

SINGLE_STREAM_BUDGET = 20_000
MULTI_STREAM_BUDGET_STREAMS = 12_000


def default_budget(cfg: Scenario) -> int:
    """Default session budget for a scenario: 20,000 single-stream sessions; 12,000 streams' worth
    of multi-stream ones, but never fewer sessions than a p99 memory verdict (one sample per
    session) needs to be able to PASS: 299 at 95 % (the upper order-statistic bound exists
    once q^n <= 1-C)."""
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


def run_scenario(
    name: str,
    seed: int,
    streams: int | None = None,
    overrides=None,
    until_decided: bool = False,
    budget: int | None = None,
    workers: int | None = None,
    progress: bool = True,
    tilt: list[str] | None = None,
    **where,
) -> ScenarioRun:
    """Run one scenario as `midstream run` does and judge its SLOs: `streams` sessions if given,
    else until decided or (the default) demonstration-sized, within `budget` (default
    `default_budget`). `where`: the `executor` and `workdir` of `runner.run`."""
    extra = _overrides_list(overrides)
    cfg = apply_overrides(get_scenario(name), extra)
    if streams is not None:
        size = RunSize("fixed", streams)
    else:
        mode = "until-decided" if until_decided else "demonstrate"
        size = RunSize(mode, budget if budget is not None else default_budget(cfg))
    sets = "".join(f" --set {o}" for o in extra)
    start = time.perf_counter()
    res, table = run_sized(cfg, size, seed, workers=workers, progress=progress, tilt=tilt, **where)
    seconds = time.perf_counter() - start
    sessions = int(res.streams.session.nunique())
    tilts = "".join(f" --tilt {t}" for t in tilt or ())
    command = f"midstream run {name} {size.flags()} --seed {seed}{sets}{tilts}"
    est = slo.estimates(res, cfg.slo.confidence)
    prov = runner.provenance(cfg, extra, seed, sessions)
    return ScenarioRun(
        name, cfg, sessions, res, table, est, command, seconds, prov, size.mode, size.budget
    )


def validation_rows(
    quick: bool = True, workers: int | None = None, pool=None
) -> tuple[list[dict] | None, str]:
    """The cases of `model.validation` for the appendix: (rows, note). A failure to run them is
    shown in the report, never hidden: rows None and the error in the note."""
    try:
        rows = validation.run_cases(quick=quick, workers=workers, pool=pool)
    except Exception as e:  # shown in the report, never hidden
        return None, (
            f"Running model.validation failed: {type(e).__name__}: {e}. "
            "Run `midstream validate` to see the details."
        )
    return rows, f"{len(rows)} cases from model.validation ({'quick' if quick else 'full'} sizes)."
