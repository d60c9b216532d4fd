"""benchmarks/scaling.py: its --quick run prints every summary figure; its fits recover known
answers.

Timings are never asserted: on a shared machine they are figures to read, not pass/fail checks.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "scaling.py"
NUMBER = r"(-?\d[\d,]*(?:\.\d+)?)"


def _load_scaling():
    """The script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("scaling_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


scaling = _load_scaling()


@pytest.fixture(scope="module")
def quick_output() -> str:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def _summary(text: str) -> str:
    assert "== summary" in text
    return text.split("== summary", 1)[1]


@pytest.mark.parametrize(
    "label",
    [
        r"cost vs frames: log-log slope \([\d,.]+\) \[standard buffer\]",
        r"cost vs frames: log-log slope \([\d,.]+\) \[whole response fits the buffer\]",
        r"cost vs streams: log-log slope \([\d,.]+\)",
        r"cost per disconnect \(resume\)",
        r"cost per disconnect \(restart\)",
        r"peak RSS, [\d,]+ streams, 2 workers \(tree sum\)",
        r"parallel efficiency, 2 workers, [\d,]+ streams",
    ],
)
def test_quick_run_prints_each_summary_figure(quick_output, label):
    match = re.search(label + r"\s+" + NUMBER, _summary(quick_output))
    assert match, f"no figure after {label!r} in:\n{quick_output}"
    assert np.isfinite(float(match.group(1).replace(",", "")))  # any value: tiny timings are noise


def test_quick_run_finds_identical_tables_and_a_linear_fit(quick_output):
    summary = _summary(quick_output)
    assert re.search(r"identical tables, workers 1 vs 2\s+yes", summary)
    for regime in ("standard buffer", "whole response fits the buffer"):
        assert re.search(
            r"fit a \+ b\*frames \["
            + regime
            + r"\]\s+a="
            + NUMBER
            + r" ms, b="
            + NUMBER
            + " us/frame",
            summary,
        )


def test_only_rejects_an_unknown_section():
    with pytest.raises(SystemExit):
        scaling.parse_args(["--only", "frames,speed"])


def test_loglog_slope_of_linear_and_quadratic_costs():
    frames = np.array([100, 300, 1000, 3000, 10_000])
    assert scaling.loglog_slope(frames, 2e-4 * frames) == pytest.approx(1.0)
    assert scaling.loglog_slope(frames, 3e-9 * frames**2) == pytest.approx(2.0)


def test_fixed_cost_pulls_the_slope_below_one_and_the_linear_fit_recovers_it():
    frames = np.array([100, 300, 1000, 3000, 10_000])
    seconds = 6e-4 + 5e-7 * frames  # a fixed 0.6 ms per stream + 0.5 us per frame
    assert scaling.loglog_slope(frames, seconds) < 0.9
    a, b = scaling.linear_fit(frames, seconds)
    assert a == pytest.approx(6e-4) and b == pytest.approx(5e-7)
    assert scaling.worst_relative_residual(frames, seconds, a, b) == pytest.approx(0.0, abs=1e-9)


def test_marginal_costs_rise_only_for_superlinear_growth():
    frames = [100, 300, 1000]
    assert scaling.marginal_costs(frames, [1.0 + 2.0 * f for f in frames]) == pytest.approx(
        [2.0, 2.0]
    )
    rising = scaling.marginal_costs(frames, [f**2 for f in frames])
    assert rising[1] > rising[0]


def test_process_tree_finds_a_child(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert child.pid in scaling.process_tree(os.getpid())
        assert scaling.rss_bytes(child.pid) > 0
    finally:
        child.kill()
        child.wait()
    assert scaling.rss_bytes(child.pid) == 0  # gone: no error, nothing resident
