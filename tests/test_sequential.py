"""Run sizes: sequential looks (fixed schedule, Bonferroni per-look confidence, stop at the first
decided look) and demonstration-sized runs."""

import pytest

from conftest import calm
from model import slo
from model.runner import run
from model.sequential import demonstration_plan, look_schedule, run_demonstration, run_until_decided


def test_looks_double_up_to_the_budget():
    assert look_schedule(1000, 20_000) == [1000, 2000, 4000, 8000, 16000, 20000]
    assert look_schedule(500, 300) == [300]
    with pytest.raises(ValueError):
        look_schedule(0, 10)


def test_stops_at_the_first_decided_look_with_corrected_confidence():
    # every stream is cut at 1 s and a third fail their auth check, so every SLO has trials; the
    # targets are easy (medians, low rates): decided well before the budget
    cfg = calm(
        content__frames=100,
        disconnects__schedule="1:close:0",
        client__auth_failure_prob=0.3,
        slo__quantile=0.5,
        slo__completion_rate=0.3,
        slo__recovery_rate=0.3,
    )
    res, table = run_until_decided(
        cfg, budget=160, seed=2, first_batch=40, workers=1, progress=False
    )
    looks = 3  # 40, 80, 160
    assert table.looks_planned.iloc[0] == looks
    assert table.confidence.iloc[0] == pytest.approx(1 - 0.05 / looks)
    assert table.stated_confidence.iloc[0] == 0.95
    n = len(res.streams)
    assert n in (40, 80) and slo.decided(table)
    if n == 80:  # it went on only because the first look was undecided at the corrected confidence
        per_look = cfg.slo.__class__(**{**cfg.slo.__dict__, "confidence": 1 - 0.05 / looks})
        first = run(cfg, 40, 2, workers=1, progress=False)
        assert not slo.decided(slo.verdicts(first, per_look))


def test_undecided_runs_to_the_budget_and_equals_a_fixed_run():
    cfg = calm(content__frames=50)  # 90 clean streams cannot demonstrate 99.95 % completion
    res, table = run_until_decided(
        cfg, budget=90, seed=2, first_batch=30, workers=1, progress=False
    )
    assert len(res.streams) == 90 and not slo.decided(table)
    fixed = run(cfg, 90, 2, workers=1, progress=False)
    assert res.streams.equals(fixed.streams)


# ---- demonstration-sized runs


def test_demonstration_plan_is_the_success_run_size():
    from model.config import Scenario

    assert demonstration_plan(Scenario()) == (5990, 2995)  # 99.95 % and 99.9 % at 95 %
    easy = calm(slo__completion_rate=0.9, slo__recovery_rate=0.99, slo__quantile=0.5)
    assert demonstration_plan(easy) == (29, 299)
    assert demonstration_plan(calm(slo__completion_rate=0.9)) == (
        299,
        2995,
    )  # a p99 memory verdict needs 299
    assert demonstration_plan(calm(slo__completion_rate=1.0, slo__quantile=0.5)) == (
        5,
        2995,
    )  # zero tolerance


def test_demonstration_runs_until_enough_disconnects_and_equals_a_fixed_run():
    # about one disconnect per stream; 29 sessions for completion, then batches until 299
    # disconnects
    cfg = calm(
        content__frames=200,
        disconnects__rate_scale=15,
        slo__completion_rate=0.9,
        slo__recovery_rate=0.99,
        slo__quantile=0.5,
    )
    res, table = run_demonstration(cfg, budget=2000, seed=3, workers=1, progress=False)
    n = len(res.streams)
    assert n > 29 and len(res.disconnects) >= 299
    assert len(res.disconnects) < 1.5 * 299  # batches sized from the rate seen: no large overshoot
    fixed = run(cfg, n, 3, workers=1, progress=False)
    assert res.streams.equals(fixed.streams) and res.disconnects.equals(fixed.disconnects)
    assert table.equals(slo.verdicts(fixed, cfg.slo))  # judged once, at the stated confidence


def test_demonstration_stops_at_the_budget_and_without_disconnects():
    rare = calm(
        content__frames=1000, disconnects__rate_scale=2, slo__completion_rate=0.9, slo__quantile=0.5
    )
    res, _ = run_demonstration(rare, budget=60, seed=1, workers=1, progress=False)
    assert len(res.streams) == 60 and len(res.disconnects) < 2995
    none, _ = run_demonstration(
        calm(content__frames=50, slo__completion_rate=0.9, slo__quantile=0.5),
        budget=500,
        seed=1,
        workers=1,
        progress=False,
    )
    assert len(none.streams) == 29  # no disconnects: nothing more to gather
