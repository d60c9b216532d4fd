"""The suite's entry points: run the cases, one line per case, `midstream validate`."""

from __future__ import annotations

import os
import time

from model.runner import Alongside, SharedPool
from model.validation.cases import CASES
from model.validation.context import Context
from model.validation.rows import ALPHA

WORKERS = (
    2  # worker processes for the simulations (None: every core); the results do not depend on it
)


def run_cases(
    quick: bool = False,
    *,
    only: list[str] | None = None,
    expected_overrides: dict[str, float] | None = None,
    workers: int | None = WORKERS,
    pool: SharedPool | None = None,
) -> list[dict]:
    """Run the cases (all, or those named in `only`) and return one row per case: case, expected,
    estimate, lower, upper, agree, note. `expected_overrides` replaces a case's derived value (for
    tests showing that a wrong value is flagged). `pool`: a `SharedPool` to run them on (the rest
    as one task beside the completion simulations' chunks), instead of processes of their own."""
    names = {c.name for c in CASES}
    unknown = set(only or ()) - names
    if unknown:
        raise ValueError(f"unknown case(s): {', '.join(sorted(unknown))}")
    chosen = [c.name for c in CASES if only is None or c.name in only]
    completion = [c.name for c in CASES if c.completion_runs and c.name in chosen]
    rest = [name for name in chosen if name not in completion]
    if not completion or not rest or (workers or os.cpu_count() or 1) < 2:
        return _run(quick, expected_overrides, workers, chosen)
    if pool is not None:  # the rest in one worker, the completion chunks wherever one is free
        other = pool.submit(_run, quick, expected_overrides, 1, rest)
        rows = _run(quick, expected_overrides, pool.workers, completion, pool) + other.result()
    else:
        # two processes: the cases sharing the completion simulations here, the rest alongside
        # (each half's simulations in its own process: the halves take about as long)
        with Alongside(_run, quick, expected_overrides, 1, rest) as other:
            rows = _run(quick, expected_overrides, 1, completion) + other.result()
    order = {name: i for i, name in enumerate(chosen)}
    return sorted(rows, key=lambda row: order[row["case"]])


def _run(
    quick: bool, expected_overrides, workers, names: list[str], executor="process"
) -> list[dict]:
    """The named cases, in catalogue order, with one `Context` (the simulations they share)."""
    ctx = Context(quick, expected_overrides, workers, executor)
    return [c.run(ctx) for c in CASES if c.name in names]


def format_row(row: dict) -> str:
    verdict = "agree   " if row["agree"] else "DISAGREE"
    return (
        f"{verdict} {row['case']}: expected {row['expected']:.6g}, estimate {row['estimate']:.6g} "
        f"[{row['lower']:.6g}, {row['upper']:.6g}] -- {row['note']}"
    )


def main_validate(quick: bool = False) -> int:
    """Print one line per case; exit code 1 if any case disagrees with theory, else 0."""
    started = time.perf_counter()
    rows = run_cases(quick=quick)
    for row in rows:
        print(format_row(row), flush=True)
    bad = sum(not r["agree"] for r in rows)
    print(
        f"{len(rows) - bad}/{len(rows)} cases agree with theory ({'quick' if quick else 'full'} "
        f"mode, {time.perf_counter() - started:.0f} s; each test's false-alarm rate 0.1 %, so <= "
        f"{len(rows) * ALPHA:.1%} for the suite)"
    )
    return 1 if bad else 0
