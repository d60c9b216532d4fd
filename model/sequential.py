"""How many streams to simulate: a fixed number, until decided (sequential looks), or a
demonstration-sized run. `run_sized` is the one place that decides how a run is sized; the command
line (`midstream run`) and the report both call it.

Until decided: the looks are fixed in advance (batch totals n0, 2 n0, 4 n0, ... up to the budget,
L looks) and each look judges the verdicts at the Bonferroni-corrected confidence 1 - (1 - C)/L.
Whatever the dependence between looks, the chance that any look returns a wrong PASS or FAIL is
at most the sum of the per-look error rates, (1 - C); so stopping at the first decided look keeps
the stated confidence C. The price is wider intervals at each look than a single fixed-size run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from model import runner, slo, stats, tilting
from model.config import Scenario
from model.simulation import Results

MODES = ("fixed", "until-decided", "demonstrate")
FIRST_BATCH = 1000  # sessions at the first look of an until-decided run (or the budget, if smaller)


@dataclass(frozen=True)
class RunSize:
    """How many sessions one run simulates, as `midstream run` takes it: `fixed` (`--streams
    COUNT`), `until-decided` or `demonstrate` (within a budget of COUNT sessions)."""

    mode: str
    count: int

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r}: one of {', '.join(MODES)}")
        if not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"count={self.count!r}: a whole number >= 1")

    @property
    def budget(self) -> int | None:
        """The session budget (None for a fixed run)."""
        return None if self.mode == "fixed" else self.count

    def flags(self) -> str:
        """The `midstream run` options that ask for this size."""
        if self.mode == "fixed":
            return f"--streams {self.count}"
        return f"--{self.mode} --budget {self.count}"


def run_sized(
    cfg: Scenario,
    size: RunSize,
    seed: int,
    workers: int | None = None,
    progress: bool = True,
    stop: Callable[[pd.DataFrame], bool] = slo.decided,
    tilt: list[str] | None = None,
    **where,
) -> tuple[Results, pd.DataFrame]:
    """Simulate `cfg` at `size` and judge its SLOs: (tables, verdict table). `stop`: when an
    until-decided run may end before the budget (see `run_until_decided`). `where`: the
    `executor` and `workdir` of `runner.run` (every batch of a run shares the workdir).

    With a `tilt` (the `--tilt` options: 'auto' or weather settings) a fixed run is simulated under
    the tilted weather and judged by importance sampling; a sized run is simulated as usual
    (crude Monte Carlo) and then `complete_by_importance` decides the rate verdicts it left
    INCONCLUSIVE, the importance-sampling run counting as one more look."""
    if tilt and size.mode == "fixed":
        cfg = tilting.with_tilt(cfg, tilt, seed, workers)
    extra = 1 if tilt and size.mode != "fixed" else 0
    budget = size.count - (importance_reserve(size.count) if extra else 0)
    if size.mode == "until-decided":
        res, table = run_until_decided(
            cfg,
            budget,
            seed,
            first_batch=min(FIRST_BATCH, budget),
            workers=workers,
            progress=progress,
            stop=stop,
            extra_looks=extra,
            **where,
        )
    elif size.mode == "demonstrate":
        judged = _per_look(cfg, 1 + extra)
        res, table = run_demonstration(
            judged, budget, seed, workers=workers, progress=progress, **where
        )
    else:
        res = runner.run(cfg, size.count, seed, workers=workers, progress=progress, **where)
        table = slo.verdicts(res, cfg.slo)
    if extra:
        table = complete_by_importance(cfg, res, table, size.count, seed, tilt, workers, progress)
    return res, table


def _per_look(cfg: Scenario, looks: int) -> Scenario:
    """`cfg` judged at the Bonferroni share of its confidence for one of `looks` looks."""
    if looks == 1:
        return cfg
    confidence = stats.sequential_decision_confidence(looks, cfg.slo.confidence)
    return dataclasses.replace(cfg, slo=dataclasses.replace(cfg.slo, confidence=confidence))


RATE_SLOS = ("completion_rate", "integrity_rate", "recovery_rate", "timeout_handling_rate")
IMPORTANCE_SESSIONS = 2000  # sessions kept for the importance-sampling look (a quarter at most)


def importance_reserve(budget: int) -> int:
    """Sessions of a sized run's budget kept for its importance-sampling look."""
    return min(IMPORTANCE_SESSIONS, budget // 4)


def complete_by_importance(
    cfg: Scenario,
    res: Results,
    table: pd.DataFrame,
    budget: int,
    seed: int,
    tilt: list[str],
    workers: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Decide the rate verdicts crude Monte Carlo left INCONCLUSIVE by one importance-sampling
    run (sessions after the crude ones, so independent of them), judged at the same per-look
    confidence; a row is replaced only where importance sampling decides it (PASS or FAIL, weights
    not degenerate). `decided_by` says which method decided each verdict."""
    open_ = table.slo.isin(RATE_SLOS) & (table.status == "INCONCLUSIVE")
    done = int(res.streams.session.max()) + 1
    sessions = budget - done
    if not open_.any() or sessions < 2:
        return table
    tilted = tilting.with_tilt(cfg, tilt, seed, workers)
    if not tilted.tilt:
        return table
    weighted = runner.run(
        tilted, sessions, seed, workers=workers, progress=progress, first_stream=done
    )
    confidence = float(table.confidence.iloc[0])
    judged = slo.verdicts(weighted, dataclasses.replace(cfg.slo, confidence=confidence))
    table = table.copy()
    for name in table.slo[open_]:
        row = judged[judged.slo == name].iloc[0]
        if row.status in ("PASS", "FAIL"):
            i = table.index[table.slo == name][0]
            crude = table.at[i, "more_streams"]
            for col in ("status", "estimate", "lower", "upper", "n", "method", "decided_by"):
                table.at[i, col] = row[col]
            table.at[i, "more_streams"] = None
            table.at[i, "method"] = (
                f"{row.method} ({tilted.tilt}; {sessions} sessions, ESS {row.ess:.3g}, relative "
                f"error {row.rel_error:.2g}; crude MC needed "
                f"{'an unknown number' if crude is None or pd.isna(crude) else int(crude)} more)"
            )
    return table


def look_schedule(first_batch: int, budget: int) -> list[int]:
    """Cumulative stream counts at which the verdicts are judged."""
    if first_batch < 1 or budget < 1:
        raise ValueError(f"first_batch={first_batch}, budget={budget}: both must be >= 1")
    looks, n = [], min(first_batch, budget)
    while n < budget:
        looks.append(n)
        n *= 2
    return looks + [budget]


def run_until_decided(
    cfg: Scenario,
    budget: int,
    seed: int,
    first_batch: int = FIRST_BATCH,
    workers: int | None = None,
    progress: bool = True,
    stop: Callable[[pd.DataFrame], bool] = slo.decided,
    extra_looks: int = 0,
    **where,
) -> tuple[Results, pd.DataFrame]:
    """Streams and verdicts at the first look where every verdict is decided (or at the budget).

    `stop(table)`: end at this look (default: every verdict decided). Any rule on the look's table
    keeps the guarantee, since every look is judged at the corrected confidence; `tune` stops at
    the first FAIL, which already rules a candidate out.
    `extra_looks` later looks (an importance-sampling run) share the Bonferroni correction."""
    looks = look_schedule(first_batch, budget)
    per_look = _per_look(cfg, len(looks) + extra_looks).slo
    parts, done = [], 0
    for n in looks:
        parts.append(
            runner.run(
                cfg, n - done, seed, workers=workers, progress=progress, first_stream=done, **where
            )
        )
        done = n
        results = runner.concat_results(parts)
        table = slo.verdicts(results, per_look)
        if stop(table):
            break
    table["looks_planned"] = len(looks) + extra_looks
    table["stated_confidence"] = cfg.slo.confidence
    return results, table


def memory_sessions(cfg: Scenario) -> int:
    """Sessions a quantile verdict on memory (one sample per session) needs before it can PASS: its
    upper order-statistic bound exists once q^n <= 1-C (299 for p99 at 95 %; the success-run
    formula)."""
    return stats.zero_failure_sample_size(cfg.slo.quantile, cfg.slo.confidence)


def demonstration_plan(cfg: Scenario) -> tuple[int, int]:
    """(sessions, disconnects) with which zero failures PASS the completion and recovery targets at
    the SLO confidence (the success-run sizes: 5,990 and 2,995 for 99.95 % and 99.9 % at 95 %).
    Completion counts sessions because multi-stream sessions are judged per session. Never fewer
    sessions than `memory_sessions`, which also sizes a zero-tolerance (target 1) completion."""
    c, slo_ = cfg.slo.confidence, cfg.slo
    sessions = memory_sessions(cfg)
    if slo_.completion_rate < 1:
        sessions = max(sessions, stats.zero_failure_sample_size(slo_.completion_rate, c))
    disconnects = (
        stats.zero_failure_sample_size(slo_.recovery_rate, c) if slo_.recovery_rate < 1 else 1
    )
    return sessions, disconnects


def run_demonstration(
    cfg: Scenario,
    budget: int,
    seed: int,
    workers: int | None = None,
    progress: bool = True,
    **where,
) -> tuple[Results, pd.DataFrame]:
    """Simulate the completion demonstration size in sessions, then further batches until the
    disconnects reach the recovery demonstration size (each batch sized from the disconnect rate
    seen so far, and at most doubling the total), at most `budget` sessions; judge every verdict
    once, at the stated confidence.

    Valid as a single look because the stopping rule counts trials, never their outcomes (a weak
    link remains: a stream that recovers slowly lives longer and so meets more disconnects)."""
    need_sessions, need_disconnects = demonstration_plan(cfg)
    n = min(need_sessions, budget)
    parts = [runner.run(cfg, n, seed, workers=workers, progress=progress, **where)]
    seen = len(parts[0].disconnects)
    while 0 < seen < need_disconnects and n < budget:
        # sized from the rate seen so far (10 % spare), at most doubling the total so the estimate
        # firms up
        more = min(budget - n, n, math.ceil(1.1 * (need_disconnects - seen) * n / seen))
        parts.append(
            runner.run(cfg, more, seed, workers=workers, progress=progress, first_stream=n, **where)
        )
        n, seen = n + more, seen + len(parts[-1].disconnects)
    results = runner.concat_results(parts)
    return results, slo.verdicts(results, cfg.slo)
