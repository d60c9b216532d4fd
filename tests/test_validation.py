"""The model against closed-form results (model/validation/), in quick mode.

Each case's own test has a 0.1 % false-alarm rate and fixed seeds, so a failure here is a
reproducible disagreement between the model and its theory (or a 1-in-1000 fluke, which the note
and a full run will tell apart). The last tests show that the suite can fail: wrong theory is
flagged.
"""

import math

import numpy as np
import pytest
from scipy import stats as sps

from model import validation
from model.stats import mean_interval
from model.validation import theory
from model.validation.scenarios import FAST_GAP

ROW_KEYS = {"case", "expected", "estimate", "lower", "upper", "agree", "note"}


@pytest.fixture(scope="module")
def quick_rows():
    return validation.run_cases(quick=True)


def test_the_suite_has_at_least_ten_cases_with_complete_rows(quick_rows):
    assert len(quick_rows) == len(validation.CASES) >= 10
    assert [r["case"] for r in quick_rows] == [c.name for c in validation.CASES]
    for row in quick_rows:
        assert set(row) == ROW_KEYS
        assert "false alarm" in row["note"], row["case"]  # every case states its test's error rate
        assert math.isfinite(row["estimate"]) and row["lower"] <= row["upper"], row


@pytest.mark.parametrize("name", [c.name for c in validation.CASES])
def test_case_agrees_with_theory(quick_rows, name):
    (row,) = [r for r in quick_rows if r["case"] == name]
    assert row["agree"], validation.format_row(row)


@pytest.mark.parametrize(
    "name, wrong",
    [
        # a constant RTO (no doubling) would give R p/(1-p)
        ("link: RTO retransmission delay R p/(1-2p)", 1.0 * 0.1 / (1 - 0.1)),
        # a lost resend repaired by the next SACK (no fast-recovery stall): g/(1-p)^2 + RTT
        (
            "link: fast retransmit delay g/(1-p) + RTT + Rp(1+2p(1-p))/(1-2p) + go-back",
            FAST_GAP / 0.9**2 + 0.04,
        ),
        # "an exact interval covers exactly its nominal level":
        # Clopper-Pearson over-covers at rare p
        ("stats: clopper-pearson 95 % coverage at p=0.001, n=2000", 0.95),
        # the textbook bad-state run 1/r is not the loss-burst length
        # when the bad state loses only half
        ("link: Gilbert-Elliott mean loss-burst length", 1 / 0.3),
    ],
)
def test_a_wrong_expected_value_is_flagged(name, wrong):
    (row,) = validation.run_cases(quick=True, only=[name], expected_overrides={name: wrong})
    assert row["expected"] == wrong
    assert not row["agree"], validation.format_row(row)


def test_a_wrong_distribution_is_flagged():
    # Poisson(1) counts tested against Poisson(1.2): the chi-square row must disagree,
    # while the right law passes.
    counts = np.random.default_rng(0).poisson(1.0, 4000)
    probs = lambda lam: np.append(sps.poisson.pmf(np.arange(15), lam), sps.poisson.sf(14, lam))
    assert not validation.chi_square_row("wrong", counts, probs(1.2), 0, "test")["agree"]
    assert validation.chi_square_row("right", counts, probs(1.0), 0, "test")["agree"]


def test_a_value_outside_the_support_is_flagged():
    row = validation.chi_square_row(
        "support", np.array([0, 1, 2] * 50), np.array([0.5, 0.3, 0.2]), 1, "test"
    )
    assert not row["agree"] and "below the support" in row["note"]


def test_main_validate_prints_one_line_per_case_and_fails_on_disagreement(monkeypatch, capsys):
    good = dict(case="a", expected=1.0, estimate=1.0, lower=0.9, upper=1.1, agree=True, note="n")
    bad = dict(good, case="b", expected=2.0, agree=False)
    monkeypatch.setattr(validation.suite, "run_cases", lambda quick=False: [good, bad])
    assert validation.main_validate(quick=True) == 1
    lines = capsys.readouterr().out.splitlines()
    assert (
        lines[0].startswith("agree")
        and lines[1].startswith("DISAGREE")
        and "1/2 cases agree" in lines[2]
    )
    monkeypatch.setattr(validation.suite, "run_cases", lambda quick=False: [good])
    assert validation.main_validate(quick=True) == 0


def test_unknown_case_names_are_refused():
    with pytest.raises(ValueError, match="unknown case"):
        validation.run_cases(quick=True, only=["no such case"])


def test_theory_helpers_match_hand_values():
    # restart with no downtime: (1/l)(e^{lT}-1); lambda -> 0 limit of the resume form is T
    assert validation.repeat_mean(10.0, 0.1, 0.0) == pytest.approx(10 * math.expm1(1.0))
    assert validation.FRAMES * validation.repeat_mean(
        validation.FRAME_TIME, 1e-9, 0.0
    ) == pytest.approx(10.0, rel=1e-6)
    # grid chain with no other disconnects reduces to Geometric(1 - e^{-c/m})
    pmf, mean = validation.grid_wait(1e-12, 1.0, 0.05)
    assert mean == pytest.approx(1 / -math.expm1(-0.05), rel=1e-9) and pmf.sum() == pytest.approx(
        1.0
    )
    # backoff schedule of the module docstring
    t = validation.backoff_syn_times(validation.backoff_scenario(1.0))
    assert t == pytest.approx([1.0, 4.52, 8.54, 13.56])
    # compound law of (X - T)/c sums to ~1 and starts at P(no interruption)
    pmf = validation.attempts_sum_pmf(1000, math.exp(-0.001), math.exp(-0.1), 60)
    assert pmf[0] == pytest.approx(math.exp(-1.0)) and pmf.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("p", [0.02, 0.1, 0.2])
def test_following_a_lost_frames_attempts_gives_the_closed_form_without_heads(p):
    g, rtt, rto = FAST_GAP, 0.04, 1.0
    frame = theory._LostFrame(g, p, rtt, rto, [])
    mean = sum(pn * frame.expected(n) for n, pn in theory._first_through(g, p, rtt, rto))
    # what the sum leaves out: N >= 9 (p^8) and branches below probability 1e-8
    assert mean == pytest.approx(theory.fast_retransmit_mean(g, p, rtt, rto), abs=1e-4)


def _timer_wait(p: float) -> float:
    """E[wait after a lost fast resend] (the timer, with its ACK loss): the closed form's part that
    follows the resend, R (1 + 2p(1-p))/(1-2p) with R = 1 s."""
    g = FAST_GAP
    return (theory.fast_retransmit_mean(g, p, 0.04, 1.0) - g / (1 - p) - 0.04) / p


def test_a_certain_head_before_the_fast_resend_is_gone_back_behind():
    # N = 1: the resend would leave at F = g + RTT; a head at h < F takes the frame at h, and if
    # that attempt is lost the SACK of frame 1 still resends it at F, then the timer (R p T0)
    g, p, rtt, rto, h = FAST_GAP, 0.1, 0.04, 1.0, 0.05
    frame = theory._LostFrame(g, p, rtt, rto, [(h, 1.0)])
    expected = (1 - p) * h + p * (g + rtt + p * _timer_wait(p))
    assert frame.expected(1) == pytest.approx(expected, abs=1e-6)


def test_go_back_term_starts_as_p_squared_from_the_heads_before_the_resend():
    # By hand, first order: N = 1 (resend at F = g + RTT = 0.155 s); the heads that can come
    # before it are R + RTT - m g for m = 8, 9 (0.12 s and 0.005 s), each with probability p^2
    # (frame m + n older lost, its resend lost; any n), saving F - h: 0.035 + 0.15 = 0.185 s.
    # The next order (the lost frame's own resend lost, (1-p) factors) is a few p of it.
    p = 0.001
    term = theory.fast_retransmit_go_back(FAST_GAP, p, 0.04, 1.0)
    assert term / p**2 == pytest.approx(-0.185, rel=0.03)


def test_a_lost_frame_whose_first_sack_comes_after_the_probe_is_sent_by_the_probe():
    # N = 9: frame 9's SACK (9 g + RTT = 1.075 s) comes after the tail loss probe at R = 1 s; a
    # lost probe leaves the sender open to that SACK, and a lost SACK resend waits for the timer
    g, p, rtt, rto = FAST_GAP, 0.1, 0.04, 1.0
    sack = 9 * g + rtt
    expected = (1 - p) * rto + p * ((1 - p) * sack + p * (sack + _timer_wait(p)))
    assert theory._LostFrame(g, p, rtt, rto, []).expected(9) == pytest.approx(expected, abs=1e-6)


def _lost_frames(go_back: bool, monkeypatch) -> tuple[np.ndarray, np.ndarray]:
    """The validation case's replications (quick size): per replication the summed delay of the
    lost frames and their count; `go_back=False` runs recovery with no heads (no older timeout
    retransmission ever takes a frame along)."""
    from model import recovery
    from model.validation.context import Context

    monkeypatch.setattr(recovery.LossRecovery, "go_back", go_back)
    sums, counts = Context(quick=True, expected_overrides=None, workers=1).fast_retransmit()
    monkeypatch.undo()
    return np.array(sums), np.array(counts)


def test_the_go_back_term_matches_a_paired_run_without_heads(monkeypatch):
    # the same fates with and without go-back: the difference of the mean delays of the lost
    # frames is the go-back term alone, far more precise than either mean (measured with 1,000
    # replications: -0.0111 +- 0.0007 against the theory's -0.01114)
    with_sums, with_counts = _lost_frames(True, monkeypatch)
    without_sums, without_counts = _lost_frames(False, monkeypatch)
    assert (with_counts == without_counts).all()  # the same lost frames
    per_rep = (with_sums - without_sums) / with_counts.mean()
    _, lo, hi = mean_interval(per_rep, 0.999)
    term = theory.fast_retransmit_go_back(FAST_GAP, 0.1, 0.04, 1.0)
    assert lo <= term <= hi and hi < 0  # and the run shows an effect: a zero term is rejected
