"""Sequential mode: fixed look schedule, Bonferroni per-look confidence, stop at the first decided look."""
import pytest

from conftest import calm
from model import slo
from model.runner import run
from model.sequential import look_schedule, run_until_decided


def test_looks_double_up_to_the_budget():
    assert look_schedule(1000, 20_000) == [1000, 2000, 4000, 8000, 16000, 20000]
    assert look_schedule(500, 300) == [300]
    with pytest.raises(ValueError):
        look_schedule(0, 10)


def test_stops_at_the_first_decided_look_with_corrected_confidence():
    # every stream is cut at 1 s and a third fail their auth check, so every SLO has trials; the
    # targets are easy (medians, low rates): decided well before the budget
    cfg = calm(content__frames=100, disconnects__schedule="1:close:0", client__auth_failure_prob=0.3,
               slo__quantile=0.5, slo__completion_rate=0.3, slo__recovery_rate=0.3)
    res, table = run_until_decided(cfg, budget=160, seed=2, first_batch=40, workers=1, progress=False)
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
    cfg = calm(content__frames=50)  # no disconnects: latency verdicts stay INCONCLUSIVE
    res, table = run_until_decided(cfg, budget=90, seed=2, first_batch=30, workers=1, progress=False)
    assert len(res.streams) == 90 and not slo.decided(table)
    fixed = run(cfg, 90, 2, workers=1, progress=False)
    assert res.streams.equals(fixed.streams)
