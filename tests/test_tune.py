"""Presets (parse, apply, compose with --set, cited in `describe`) and `tune` (safe cost
expressions, reproducible, resumable, and its best point PASSes when `run` judges it)."""

from __future__ import annotations

import json

import pytest

from model.cli import main
from model.config import ConfigError, apply_overrides
from model.presets import PRESETS, get_preset, with_preset
from model.scenarios import SCENARIOS, get_scenario
from model.sequential import RunSize, run_sized
from model.tune import COSTS, CostExpr, Knob, parse_knob, tune

# A tiny problem: short streams, many disconnects, median targets (decidable with a few hundred
# sessions). A later first reconnect is cheaper (cost 6 - first_delay) but slows reconnection, so
# the best candidate sits where the p50 reconnect target stops being met.
TINY = [
    "content.frames=50",
    "disconnects.rate_scale=20",
    "slo.quantile=0.5",
    "slo.completion_rate=0.9",
    "slo.recovery_rate=0.5",
    "slo.reconnect_time=6",
    "slo.recovery_time=7",
    "slo.resume_time=2",
]
COST = "6 - client.backoff.first_delay"
BUDGET = 300


def tiny_cfg():
    return apply_overrides(get_scenario("text-interruption"), TINY)


# ---------------------------------------------------------------- presets


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_applies_to_every_scenario_and_cites_every_value(name):
    p = PRESETS[name]
    assert p.system and p.version and p.summary
    for v in p.values:
        assert v.source.strip(), f"{name}: {v.path} has no source"
    for scenario in SCENARIOS.values():
        cfg = p.apply(scenario)
        settings = {path: value for path, value in (a.split("=", 1) for a in p.assignments())}
        assert str(cfg.client.backoff.max_attempts) == settings.get(
            "client.backoff.max_attempts", str(cfg.client.backoff.max_attempts)
        )


def test_signalr_reconnect_delays_are_exactly_0_2_10_30_then_stop():
    b = get_preset("signalr").apply(get_scenario("text-interruption")).client.backoff
    delays = [b.first_delay] + [min(b.cap, b.base * b.factor**n) for n in range(3)]
    assert delays == [0, 2, 10, 30] and b.max_attempts == 4 and b.jitter == "none"


def test_preset_comes_first_and_set_wins():
    assigned = with_preset("socketio", ["client.ping_interval=5"])
    cfg = apply_overrides(get_scenario("text-interruption"), assigned)
    assert cfg.client.ping_interval == 5 and cfg.server.retention == 120
    assert cfg.client.ping_timeout == 20  # the preset's, not overridden
    with pytest.raises(ConfigError, match="one of signalr"):
        get_preset("signalR")


def test_cli_presets_describe_and_provenance(capsys, tmp_path):
    assert main(["presets"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == list(PRESETS)
    assert main(["describe", "text-interruption", "--preset", "signalr"]) == 0
    out = capsys.readouterr().out
    assert "StatefulReconnectBufferSize" in out and "KeepAliveInterval 15 s" in out
    assert main(["run", "text-interruption", "--preset", "nope"]) == 2
    assert "--preset='nope'" in capsys.readouterr().err
    table = tmp_path / "s.csv"
    args = ["run", "text-interruption", "--preset", "graphql-ws", "--set", "content.frames=20"]
    assert main([*args, "--streams", "3", "--workers", "1", "--quiet", "--out", str(table)]) == 0
    prov = json.loads((tmp_path / "s.csv.json").read_text())
    assert prov["preset"] == "graphql-ws" and prov["config"]["client"]["strategy"] == "restart"
    assert prov["overrides"][-1] == "content.frames=20"


# ---------------------------------------------------------------- cost expressions and knobs


def test_cost_expressions_are_parsed_not_evaluated():
    cfg = tiny_cfg()
    c = CostExpr("2 * pings_per_minute + client.backoff.base / 2 - 1", cfg)
    terms = {**{k: 1.0 for k in COSTS}, "client.backoff.base": 4.0}
    assert c.value(terms) == 2 + 2 - 1
    for bad in ("__import__('os').system('true')", "pings_per_minute ** 2", "nope + 1", "[1]"):
        with pytest.raises(ConfigError, match="--cost"):
            CostExpr(bad, cfg)


def test_knobs_are_numeric_settings_within_their_ranges():
    cfg = tiny_cfg()
    assert parse_knob("client.backoff.max_attempts=1..20", cfg) == Knob(
        "client.backoff.max_attempts", 1, 20, integer=True
    )
    assert parse_knob("client.ping_interval=0.5..30", cfg).log
    for bad in ("client.strategy=1..2", "client.ping_interval=3..1", "client.ping_interval=-1..2"):
        with pytest.raises(ConfigError):
            parse_knob(bad, cfg)


# ---------------------------------------------------------------- the search


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """Six trials in one go, and three then six more from the journal (a resumed run)."""
    cfg, knobs = tiny_cfg(), [Knob("client.backoff.first_delay", 0, 6)]
    whole = tune(cfg, knobs, CostExpr(COST, cfg), trials=6, seed=2, budget=BUDGET, workers=1)
    journal = tmp_path_factory.mktemp("tune") / "trials.jsonl"
    tune(cfg, knobs, CostExpr(COST, cfg), 3, 2, BUDGET, 1, journal)
    resumed = tune(cfg, knobs, CostExpr(COST, cfg), 6, 2, BUDGET, 1, journal)
    return cfg, whole, resumed, journal


def test_tune_is_reproducible_and_resumes_where_it_stopped(tuned):
    cfg, whole, resumed, journal = tuned
    assert len(journal.read_text().splitlines()) == 1 + 6  # header + one line a trial
    key = [(t.params, t.cost, t.feasible, t.verdicts) for t in whole.trials]
    assert key == [(t.params, t.cost, t.feasible, t.verdicts) for t in resumed.trials]
    with pytest.raises(ConfigError, match="different tune"):
        tune(cfg, [Knob("client.backoff.first_delay", 0, 5)], CostExpr(COST, cfg), 6, 2, BUDGET,
             1, journal)  # fmt: skip


def test_the_best_candidate_passes_every_slo_when_run_judges_it(tuned):
    cfg, whole, _, _ = tuned
    best = whole.best
    assert best is not None and all(v["status"] in ("PASS", "N/A") for v in best.verdicts)
    assert all(t.cost >= best.cost for t in whole.feasible())
    infeasible = [t for t in whole.trials if not t.feasible]
    assert all(t.constraint > 0 for t in infeasible)
    # `midstream run --until-decided` on the same settings and seed: every verdict PASSes again
    _, table = run_sized(
        apply_overrides(cfg, best.assignments()), RunSize("until-decided", BUDGET), 2, 1, False
    )
    assert set(table.status) <= {"PASS", "N/A"}


def test_cli_tune_prints_the_best_and_writes_the_frontier(tmp_path, capsys):
    args = ["tune", "text-interruption", *(f"--set={a}" for a in TINY)]
    args += ["--vary", "client.backoff.first_delay=0..6", "--cost", COST, "--trials", "3"]
    args += ["--budget", str(BUDGET), "--seed", "2", "--workers", "1", "--out", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "with every SLO PASS" in out
    assert (tmp_path / "frontier.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "trials.csv").exists() and (tmp_path / "trials.jsonl").exists()
    assert main([*args[:-2], "--out", str(tmp_path), "--cost", "nope"]) == 2
