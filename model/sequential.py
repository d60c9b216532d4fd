"""Sequential mode: simulate in growing batches until every SLO verdict is decided or a budget is spent.

Method: the looks are fixed in advance (batch totals n0, 2 n0, 4 n0, ... up to the budget, L looks)
and each look judges the verdicts at the Bonferroni-corrected confidence 1 - (1 - C)/L. Whatever
the dependence between looks, the chance that any look returns a wrong PASS or FAIL is at most
the sum of the per-look error rates, (1 - C); so stopping at the first decided look keeps the
stated confidence C. The price is wider intervals at each look than a single fixed-size run.
"""
from __future__ import annotations

import dataclasses

import pandas as pd

from model import runner, slo, stats
from model.config import Scenario
from model.simulation import Results


def look_schedule(first_batch: int, budget: int) -> list[int]:
    """Cumulative stream counts at which the verdicts are judged."""
    if first_batch < 1 or budget < 1:
        raise ValueError(f"first_batch={first_batch}, budget={budget}: both must be >= 1")
    looks, n = [], min(first_batch, budget)
    while n < budget:
        looks.append(n)
        n *= 2
    return looks + [budget]


def run_until_decided(cfg: Scenario, budget: int, seed: int, first_batch: int = 1000,
                      workers: int | None = None, progress: bool = True) -> tuple[Results, pd.DataFrame]:
    """Streams and verdicts at the first look where every verdict is decided (or at the budget)."""
    looks = look_schedule(first_batch, budget)
    per_look = dataclasses.replace(cfg.slo, confidence=stats.sequential_decision_confidence(len(looks), cfg.slo.confidence))
    parts, done = [], 0
    for n in looks:
        parts.append(runner.run(cfg, n - done, seed, workers=workers, progress=progress, first_stream=done))
        done = n
        results = runner.concat_results(parts)
        table = slo.verdicts(results, per_look)
        if slo.decided(table):
            break
    table["looks_planned"] = len(looks)
    table["stated_confidence"] = cfg.slo.confidence
    return results, table
