"""The studies in experiments/: each runs at --quick sizes in-process and writes sane tables and
figures."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from experiments import backoff_policies, buffer_sizing, resume_vs_restart, slo_suite  # noqa: E402
from model import runner, slo  # noqa: E402
from model.config import apply_overrides  # noqa: E402
from model.scenarios import SCENARIOS, get_scenario  # noqa: E402

STUDIES = {
    "slo_suite": slo_suite,
    "resume_vs_restart": resume_vs_restart,
    "backoff_policies": backoff_policies,
    "buffer_sizing": buffer_sizing,
}
FILES = {  # tables and figures each study writes
    "slo_suite": (["verdicts"], ["verdicts"]),
    "resume_vs_restart": (["resume_vs_restart"], ["completion_vs_disconnect_rate"]),
    "backoff_policies": (["backoff_policies"], ["tails"]),
    "buffer_sizing": (["buffer_sizing"], ["buffer_sizing"]),
}
ESTIMATE_COLUMNS = {"measure", "statistic", "estimate", "lower", "upper", "n", "method"}
# the backoff study's time measures need disconnects: its 30 --quick streams of 2 s meet about two
# (none at all for some seeds), 120 meet about ten
MORE_STREAMS = {"backoff_policies": ["--streams", "120"]}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Run every study once at --quick sizes: {name: (out_dir, {table stem: DataFrame}, printed
    summary)}."""
    done = {}
    for name, module in STUDIES.items():
        out = tmp_path_factory.mktemp(name)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            argv = ["--quick", "--out-dir", str(out), "--workers", "1", *MORE_STREAMS.get(name, [])]
            assert module.main(argv) == 0
        tables = {stem: pd.read_parquet(out / f"{stem}.parquet") for stem in FILES[name][0]}
        done[name] = (out, tables, printed.getvalue())
    return done


def _rates(table: pd.DataFrame) -> pd.DataFrame:
    return table[table.statistic == "rate"]


def _bounds_hold(table: pd.DataFrame) -> None:
    """Every interval holds its estimate (where both bounds are defined)."""
    t = table.dropna(subset=["estimate", "lower", "upper"])
    assert (t.lower <= t.estimate).all() and (t.estimate <= t.upper).all()


@pytest.mark.parametrize("name", STUDIES)
def test_tables_figures_provenance_and_summary(outputs, name):
    out, tables, printed = outputs[name]
    for stem in FILES[name][0]:
        path = out / f"{stem}.parquet"
        side = json.loads(Path(f"{path}.json").read_text())
        meta = json.loads(pq.read_schema(path).metadata[b"midstream"])
        assert side == meta and side["experiment"] == name and side["arguments"]["quick"] is True
        assert side["runs"] and all(r["config"]["content"]["frames"] == 100 for r in side["runs"])
        assert f"python experiments/{name}.py --quick" in side["command"]
    for stem in FILES[name][1]:
        assert (out / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
    assert "wall time" in printed and (out / "summary.txt").read_text().strip() == printed.strip()


def test_slo_suite_has_every_verdict_of_every_scenario(outputs):
    _, tables, _ = outputs["slo_suite"]
    v = tables["verdicts"]
    assert {
        "scenario",
        "slo",
        "target",
        "status",
        "estimate",
        "lower",
        "upper",
        "n",
        "more_streams",
    } <= set(v.columns)
    assert list(dict.fromkeys(v.scenario)) == list(SCENARIOS)
    assert v.groupby("scenario").slo.nunique().eq(8).all() and len(v) == 8 * len(SCENARIOS)
    assert set(v.status) <= {"PASS", "FAIL", "INCONCLUSIVE", "N/A"}
    rates = v[v.slo.str.endswith("_rate")].dropna(subset=["estimate"])
    assert rates.estimate.between(0, 1).all() and rates.lower.between(0, 1).all()
    assert (v.sessions == 30).all()
    stress = v[v.scenario == "stress"]
    assert (stress.streams == 30 * get_scenario("stress").session.streams).all()


def test_slo_suite_verdicts_are_those_of_run_and_verdicts(outputs):
    """The suite's row for a scenario equals `runner.run` + `slo.verdicts` with the same
    arguments."""
    _, tables, _ = outputs["slo_suite"]
    cfg = apply_overrides(get_scenario("text-interruption"), ["content.frames=100"])
    direct = slo.verdicts(runner.run(cfg, 30, 1, workers=1, progress=False), cfg.slo)
    mine = tables["verdicts"].query("scenario == 'text-interruption'").reset_index(drop=True)
    assert list(mine.status) == list(direct.status) and list(mine.slo) == list(direct.slo)
    np.testing.assert_allclose(mine.estimate.astype(float), direct.estimate.astype(float))


def test_resume_vs_restart_table(outputs):
    _, tables, _ = outputs["resume_vs_restart"]
    t = tables["resume_vs_restart"]
    assert ESTIMATE_COLUMNS | {
        "strategy",
        "rate_scale",
        "disconnects_per_minute",
        "population",
    } <= set(t.columns)
    assert len(t) == 2 * 6 * 4 and set(t.strategy) == {"resume", "restart"}
    assert _rates(t).estimate.between(0, 1).all() and (_rates(t).n == 30).all()
    _bounds_hold(t)
    top = t[
        (t.rate_scale == t.rate_scale.max())
        & (t.measure == "completion_time")
        & (t.population == "all streams")
    ]
    median = top.set_index("strategy").estimate
    assert median["restart"] >= median["resume"]
    recovery = (
        t[(t.rate_scale == t.rate_scale.max()) & (t.measure == "recovery_time")]
        .set_index("strategy")
        .estimate
    )
    assert recovery["restart"] >= recovery["resume"]  # restart has to regenerate the whole prefix


def test_backoff_policies_table(outputs):
    _, tables, _ = outputs["backoff_policies"]
    t = tables["backoff_policies"]
    assert ESTIMATE_COLUMNS | {"scenario", "jitter", "population"} <= set(t.columns)
    assert set(t.jitter) == {"none", "full", "equal", "decorrelated"}
    assert set(t.scenario) == set(backoff_policies.SCENARIOS)
    assert _rates(t).dropna(subset=["estimate"]).estimate.between(0, 1).all()
    _bounds_hold(t)
    times = t[t.measure.isin(["reconnect_time", "recovery_time"])]
    assert set(times.statistic) == {"p50", "p90", "p99", "p99.9"}
    for _, g in times.groupby(["scenario", "jitter", "measure", "population"]):
        est = g.set_index("statistic").estimate[["p50", "p90", "p99", "p99.9"]].dropna()
        assert est.is_monotonic_increasing
    every = times[times.population == "all disconnects"].pivot_table(
        index=["scenario", "jitter", "statistic"], columns="measure", values="estimate"
    )
    assert (every.recovery_time >= every.reconnect_time).all()  # caught up only after reconnecting
    attempts = t[(t.measure == "attempts") & (t.statistic == "max")].estimate.dropna()
    assert (attempts <= 10).all()  # no scenario allows more than 10 attempts


def test_buffer_sizing_table(outputs):
    _, tables, _ = outputs["buffer_sizing"]
    t = tables["buffer_sizing"]
    assert ESTIMATE_COLUMNS | {"scenario", "when_full", "buffer_bytes"} <= set(t.columns)
    assert len(t) == 2 * 2 * 10 * 4
    assert t.buffer_bytes.min() == 2048 and t.buffer_bytes.max() == 2**20
    assert _rates(t).estimate.between(0, 1).all()
    _bounds_hold(t)
    wide = t.pivot_table(
        index=["scenario", "when_full", "buffer_bytes"], columns="measure", values="estimate"
    )
    assert (wide.completion_rate + wide.resume_window_exceeded_rate <= 1 + 1e-12).all()
    frame = 16384 + 32  # the largest frame (large-response): a blocking buffer always takes one
    assert (
        wide.server_memory_bytes <= np.maximum(wide.index.get_level_values("buffer_bytes"), frame)
    ).all()
    assert (wide.xs("block", level="when_full").resume_window_exceeded_rate == 0).all()


@pytest.mark.parametrize("name", STUDIES)
def test_runs_as_a_script(name):
    """`python experiments/NAME.py --help` works from anywhere and names the default output
    folder."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / f"{name}.py"), "--help"],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    for option in ("--streams", "--seed", "--workers", "--out-dir", "--quick"):
        assert option in out.stdout
    assert f"reports/experiments/{name}" in out.stdout


def test_real_stacks_compares_every_preset_with_the_catalogue(tmp_path):
    from experiments import real_stacks
    from model.presets import PRESETS

    args = ["--quick", "--out-dir", str(tmp_path), "--workers", "1", "--streams", "10"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert real_stacks.main([*args, "--scenario", "rapid-reconnection"]) == 0
    table = pd.read_parquet(tmp_path / "verdicts.parquet")
    assert list(dict.fromkeys(table.preset)) == ["catalogue", *PRESETS]
    assert set(table.scenario) == {"rapid-reconnection"}
    assert table.groupby("preset").size().nunique() == 1  # the same SLOs for every stack
    side = json.loads((tmp_path / "verdicts.parquet.json").read_text())
    assert "--scenario rapid-reconnection" in side["command"]
    assert (tmp_path / "stacks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
