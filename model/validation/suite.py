"""The suite's entry points: run the cases, one line per case, `midstream validate`."""

from __future__ import annotations

import time

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
) -> list[dict]:
    """Run the cases (all, or those named in `only`) and return one row per case: case, expected,
    estimate, lower, upper, agree, note. `expected_overrides` replaces a case's derived value (for
    tests showing that a wrong value is flagged)."""
    names = {c.name for c in CASES}
    unknown = set(only or ()) - names
    if unknown:
        raise ValueError(f"unknown case(s): {', '.join(sorted(unknown))}")
    ctx = Context(quick, expected_overrides, workers)
    return [c.run(ctx) for c in CASES if only is None or c.name in only]


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
