"""Importance sampling: the weights are the exact likelihood ratio of the weather, untilted runs
are untouched, bad tilts are refused, and the weighted estimators and verdicts behave."""

import dataclasses
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import integrate
from scipy import stats as sps

from model import importance, tilting, weighted
from model.config import ConfigError, Scenario, apply_overrides
from model.distributions import Dist
from model.records import NetworkEvent, NetworkRecord
from model.scenarios import get_scenario
from model.simulation import session_weather, simulate
from model.validation import rare

STEADY = {
    "network.initial": "unstable",
    "network.unstable.disconnect_rate": 0.05,
    "network.unstable.mean_sojourn": math.inf,
    "disconnects.outage.kind": "exponential",
    "disconnects.outage.scale": 1.5,
}


def test_the_weight_is_the_closed_form_poisson_likelihood_ratio():
    """One steady condition: L = (l/l')^N e^{(l'-l) T} prod (f/f')(outage) (p/p')(kind)."""
    tilt = "disconnects.rate_scale=4;disconnects.outage.scale=6;disconnects.weight_close=2"
    cfg = apply_overrides(Scenario(), {**STEADY, "tilt": tilt})
    lam, lam_t, m, m_t = 0.05, 0.2, 1.5, 6.0
    p = dict(zip(("close", "reset", "half_open"), cfg.disconnects.kind_probabilities()))
    p_t = dict(
        zip(
            ("close", "reset", "half_open"), importance.tilted(cfg).disconnects.kind_probabilities()
        )
    )
    for session in range(20):
        weather = session_weather(cfg, 3, session)
        end = 35.0
        seen = [e for e in weather.events if e.time <= end]
        expected = len(seen) * math.log(lam / lam_t) + (lam_t - lam) * end
        for e in seen:
            expected += math.log(m_t / m) - e.outage / m + e.outage / m_t
            expected += math.log(p[e.kind] / p_t[e.kind])
        assert importance.log_weight(cfg, weather, end) == pytest.approx(expected, abs=1e-9)


def test_weights_average_one_with_changing_conditions():
    """E_tilted[L] = 1 at a fixed end, with the condition chain and its rates tilted too."""
    cfg = apply_overrides(
        get_scenario("network-degradation"),
        {
            "tilt": "disconnects.rate_scale=2;network.poor.mean_sojourn=20;"
            "network.unstable.to_poor=3;disconnects.outage.scale=2.5"
        },
    )
    w = np.array([importance.weight(cfg, session_weather(cfg, 5, i), 30.0) for i in range(3000)])
    se = w.std(ddof=1) / math.sqrt(len(w))
    assert abs(w.mean() - 1) < 4 * se, (w.mean(), se)


def test_an_untilted_run_has_weight_exactly_one():
    cfg = apply_overrides(get_scenario("text-interruption"), ["content.frames=100"])
    res = simulate(cfg, 5, seed=1)
    assert (res.streams.weight == 1.0).all()


def test_a_tilted_run_keeps_what_the_weather_does_not_touch():
    """Tilting only the weather: a session with no event up to its end under both laws runs the
    same (same loss, jitter, content), its weight e^{(l'-l) T} exactly."""
    base = apply_overrides(get_scenario("text-interruption"), ["content.frames=100"])
    tilted = apply_overrides(base, {"tilt": "disconnects.rate_scale=1.5"})
    a, b = simulate(base, 20, seed=2).streams, simulate(tilted, 20, seed=2).streams
    # no weather event before the stream ends under either law (one while it connects counts too)
    calm = np.array(
        [
            all(e.time > end for cfg in (base, tilted) for e in session_weather(cfg, 2, s).events)
            for s, end in zip(a.session, np.maximum(a.end_time, b.end_time))
        ]
    )
    assert calm.any()
    assert np.allclose(a[calm].end_time, b[calm].end_time)


@pytest.mark.parametrize(
    "tilt, words",
    [
        ("client.strategy=restart", "a weather setting"),
        ("disconnects.rate_scale=0", "disconnect rate > 0"),
        ("disconnects.weight_half_open=0", "half_open"),
        ("disconnects.rate_scale", "entries 'path=value'"),
        (
            "disconnects.outage_mix=1;disconnects.outage_shift=40",
            "disconnects.outage_mix + disconnects.outage_mix2 < 1",
        ),
        (
            "disconnects.outage_mix=0.4;disconnects.outage_shift=40;"
            "disconnects.outage_mix2=0.6;disconnects.outage_shift2=20",
            "no plain part is left",
        ),
        ("disconnects.outage.kind=uniform", "uniform outage law covering"),
    ],
)
def test_bad_tilts_are_refused_naming_the_setting(tilt, words):
    with pytest.raises(ConfigError) as e:
        apply_overrides(get_scenario("text-interruption"), {"tilt": tilt})
    assert "tilt" in str(e.value) and words in str(e.value)


def test_a_constant_outage_cannot_be_tilted():
    cfg = apply_overrides(Scenario(), {"disconnects.outage.kind": "constant"})
    with pytest.raises(ConfigError, match="constant outage"):
        apply_overrides(cfg, {"tilt": "disconnects.outage.scale=3"})
    with pytest.raises(ConfigError, match="constant outage"):
        apply_overrides(cfg, {"tilt": "disconnects.outage_mix=0.5;disconnects.outage_shift=9"})


def test_an_all_shifted_tilt_is_allowed_where_the_scenario_is_shifted_at_least_as_far():
    """The tilt's outages must be possible wherever the scenario's are: an all-shifted tilt
    (outage_mix = 1) covers a scenario itself all shifted by as much or more, and a shift of 0 is
    the plain law."""
    shifted = apply_overrides(
        Scenario(), {"disconnects.outage_mix": 1.0, "disconnects.outage_shift": 10.0}
    )
    apply_overrides(shifted, {"tilt": "disconnects.outage_shift=5"})
    apply_overrides(Scenario(), {"tilt": "disconnects.outage_mix=1"})
    with pytest.raises(ConfigError, match="outage_mix2 < 1"):
        apply_overrides(shifted, {"tilt": "disconnects.outage_shift=12"})


def test_weighted_rate_with_unit_weights_is_the_plain_mean():
    rng = np.random.default_rng(0)
    a = rng.binomial(3, 0.2, 500)
    r = weighted.weighted_rate(a, np.full(500, 3), np.ones(500), known_trials=3.0)
    assert r.estimate == pytest.approx(a.mean() / 3)
    assert r.se == pytest.approx(a.std(ddof=1) / 3 / math.sqrt(500))
    ratio = weighted.weighted_rate(a, np.full(500, 3), np.ones(500))
    assert ratio.estimate == pytest.approx(r.estimate)


def test_no_events_under_the_tilt_is_degenerate_not_a_pass():
    r = weighted.weighted_rate(np.zeros(400), np.ones(400), np.full(400, 0.5), known_trials=1.0)
    assert r.estimate == 0 and "effective adverse events" in r.degenerate
    # 10 equal failures of 400 sessions: 10 effective events, and 1,200 sessions would carry 30
    few = weighted.weighted_rate(np.arange(400) < 10, np.ones(400), np.ones(400), known_trials=1.0)
    assert few.effective_events == pytest.approx(10)
    assert few.degenerate.endswith("about 1,200 sessions would do")


def test_poisson_tail_estimate_covers_the_exact_value():
    """P(N >= 8) for Poisson(1) (1.02e-5) from 2,000 tilted weathers: within 4 standard errors,
    with far lower variance than crude Monte Carlo."""
    exact = float(sps.poisson.sf(rare.AT_LEAST - 1, 1.0))
    r = rare.window_estimate(rare.window_scenario(), 9, 0, 2000)
    assert not r.degenerate
    assert abs(r.estimate - exact) < 4 * r.se
    assert exact * (1 - exact) / (r.se**2 * 2000) > 100


def test_weighted_verdicts_name_their_method():
    cfg = apply_overrides(
        get_scenario("timeout-and-retry"),
        ["content.frames=200", "tilt=disconnects.rate_scale=2"],
    )
    from model import slo

    res = simulate(cfg, 40, seed=1)
    table = slo.verdicts(res, cfg.slo)
    assert (table.decided_by == "importance sampling").all()
    assert {"ess", "effective_events", "rel_error"} <= set(table.columns)
    assert not table.status.isin(["PASS", "FAIL"])[table.method.str.contains("no verdict")].any()
    crude = slo.verdicts(simulate(get_scenario("timeout-and-retry"), 5, seed=1), cfg.slo)
    assert (crude.decided_by == "crude MC").all()


def test_cli_bad_tilt_is_one_line_exit_2():
    out = subprocess.run(
        [sys.executable, "-m", "model.cli", "run", "text-interruption", "--tilt", "horizon=5"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "tilt" in out.stderr and "Traceback" not in out.stderr


# ---------------------------------------------------------------- the shifted mixture

LAWS = [Dist("exponential", 1.5), Dist("lognormal", 2.0, 0.8), Dist("uniform", 3.0)]


@pytest.mark.parametrize("law", LAWS, ids=lambda d: d.kind)
@pytest.mark.parametrize("mix", [0.3, 1.0])
def test_the_mixture_density_integrates_to_one(law, mix):
    """(1 - m) f(x) + m f(x - T) 1{x >= T} is a density (m = 1: the shifted law alone, nothing
    below the shift)."""
    shift = 7.0

    def density(x):
        return math.exp(importance.outage_log_density(law, [x], mix, shift)[0])

    pieces = [(0.0, 3.0), (3.0, shift), (shift, shift + 3.0), (shift + 3.0, math.inf)]
    total = sum(integrate.quad(density, a, b, limit=200)[0] for a, b in pieces)
    assert total == pytest.approx(1.0, abs=1e-7)
    below = importance.outage_log_density(law, [0.5, 2.0], mix, shift)
    assert (below == -np.inf).all() if mix == 1 else np.isfinite(below).all()


@pytest.mark.parametrize("law", LAWS, ids=lambda d: d.kind)
def test_the_mixture_density_is_the_plain_law_without_mix_or_shift(law):
    x = np.array([0.0, 0.4, 1.0, 2.9, 7.5, 40.0])
    plain = importance.outage_log_density(law, x)
    assert np.array_equal(importance.outage_log_density(law, x, 0.0, 7.0), plain)
    assert np.array_equal(importance.outage_log_density(law, x, 0.6, 0.0), plain)


def test_the_mixture_density_is_stable_far_in_the_tail():
    """At 300 s f(x) is e^-200: the plain part underflows, the shifted part carries the sum."""
    law, mix, shift = Dist("exponential", 1.5), 0.5, 290.0
    got = importance.outage_log_density(law, [300.0], mix, shift)[0]
    expected = (
        math.log(mix)
        - math.log(1.5)
        - 10.0 / 1.5
        + math.log1p((1 - mix) / mix * math.exp(-shift / 1.5))
    )
    assert got == pytest.approx(expected, rel=1e-12)


def test_no_mixture_leaves_the_weather_draws_unchanged():
    """outage_mix = 0 draws nothing more (whatever the shift); with a mixture the times and kinds
    are the same draws and each random outage is the plain one or it plus the shift."""
    base = apply_overrides(Scenario(), {**STEADY, "disconnects.schedule": "3:close:2"})
    idle = apply_overrides(base, {"disconnects.outage_shift": 30.0})
    mixed = apply_overrides(idle, {"disconnects.outage_mix": 0.5})
    shifted = 0
    for session in range(40):
        a, b, c = (session_weather(cfg, 4, session) for cfg in (base, idle, mixed))
        assert a.events == b.events
        assert [(e.time, e.kind) for e in a.events] == [(e.time, e.kind) for e in c.events]
        for e, f in zip(a.events, c.events):
            assert f.outage == e.outage or (f.outage == e.outage + 30.0 and e.time != 3.0)
            shifted += f.outage != e.outage
    assert shifted > 0


@pytest.mark.parametrize("law", LAWS, ids=lambda d: d.kind)
@pytest.mark.parametrize("mixes", [(0.3, 0.2), (0.6, 0.4)])
def test_the_two_shift_mixture_density_integrates_to_one(law, mixes):
    """(1 - m1 - m2) f(x) + m1 f(x - T1) + m2 f(x - T2) is a density (m1 + m2 = 1: no plain part,
    nothing below the shorter shift), and each component's share is the mass above its shift
    where the others' is 0 there (a uniform law narrower than the gaps)."""
    shifts = (7.0, 20.0)

    def density(x):
        return math.exp(importance.outage_log_density(law, [x], mixes, shifts)[0])

    cuts = [0.0, 3.0, 7.0, 10.0, 20.0, 23.0, math.inf]
    total = sum(integrate.quad(density, a, b, limit=200)[0] for a, b in zip(cuts, cuts[1:]))
    assert total == pytest.approx(1.0, abs=1e-7)
    below = importance.outage_log_density(law, [0.5, 2.0], mixes, shifts)
    assert (below == -np.inf).all() if sum(mixes) == 1 else np.isfinite(below).all()


def test_the_two_shift_mixture_density_is_the_closed_form():
    """At a point above both shifts: log of the three exponential terms, written out."""
    law, (m1, m2), (t1, t2), x = Dist("exponential", 1.5), (0.25, 0.25), (45.0, 22.0), 50.0

    def f(y):
        return math.exp(-y / 1.5) / 1.5

    expected = math.log(0.5 * f(x) + m1 * f(x - t1) + m2 * f(x - t2))
    got = importance.outage_log_density(law, [x], [m1, m2], [t1, t2])[0]
    assert got == pytest.approx(expected, rel=1e-12)
    # one component of share 0 (or shift 0) is the one-shift mixture, bit for bit
    one = importance.outage_log_density(law, [x, 3.0], 0.25, 45.0)
    assert np.array_equal(importance.outage_log_density(law, [x, 3.0], [0.25, 0.0], [45, 9]), one)


def test_the_two_shift_tilt_weight_is_exact_on_a_fixed_weather():
    """The session weight of a hand-made weather under a two-shift tilt: the Poisson rate terms
    (rate unchanged: they cancel) times, per event, f(x) over the tilted mixture density."""
    tilt = (
        "disconnects.outage_mix=0.2;disconnects.outage_shift=40;"
        "disconnects.outage_mix2=0.3;disconnects.outage_shift2=20"
    )
    cfg = apply_overrides(Scenario(), {**STEADY, "tilt": tilt})
    outages = (1.0, 23.0, 44.5)
    events = tuple(NetworkEvent(5.0 + 10 * i, "close", o) for i, o in enumerate(outages))
    weather = NetworkRecord(events, np.array([0.0]), np.array([1]))

    def f(y):
        return math.exp(-y / 1.5) / 1.5 if y >= 0 else 0.0

    expected = math.prod(
        f(x) / (0.5 * f(x) + 0.2 * f(x - 40.0) + 0.3 * f(x - 20.0)) for x in outages
    )
    assert importance.weight(cfg, weather, 60.0) == pytest.approx(expected, rel=1e-9)


def test_the_two_shift_weights_average_to_one():
    """E_tilt[L] = 1 over whole weathers drawn under a two-shift tilt (seeded, 4,000 sessions;
    the tolerance is 4 standard errors of the mean weight)."""
    tilt = (
        "disconnects.rate_scale=2;disconnects.outage_mix=0.2;disconnects.outage_shift=6;"
        "disconnects.outage_mix2=0.2;disconnects.outage_shift2=3"
    )
    cfg = apply_overrides(Scenario(), {**STEADY, "horizon": 20.0, "tilt": tilt})
    tilted = importance.tilted(cfg)
    w = np.array([importance.weight(cfg, session_weather(tilted, 3, s), 20.0) for s in range(4000)])
    se = w.std(ddof=1) / math.sqrt(len(w))
    assert abs(w.mean() - 1.0) < 4 * se
    assert se < 0.05


ONCE = (
    "disconnects.rate_scale=4;disconnects.outage_mix=0.2;disconnects.outage_shift=40;"
    "disconnects.outage_mix2=0.3;disconnects.outage_shift2=20;disconnects.shift_once=true;"
    "disconnects.after_shift_rate=0.25"
)


def test_a_shift_once_tilt_weight_is_exact_on_a_fixed_weather():
    """Outages 1, 23 (a short shift's), 44.5 (with 23, past the longest shift: the mixture's last
    event, at t = 25), then 2 and 50 s: the rate is 4x up to t = 25 and 4 x 0.25 = 1x after, the
    outages mixed up to and including the third event and plain after it."""
    cfg = apply_overrides(Scenario(), {**STEADY, "tilt": ONCE})
    outages, lam, end = (1.0, 23.0, 44.5, 2.0, 50.0), 0.05, 90.0
    events = tuple(NetworkEvent(5.0 + 10 * i, "close", o) for i, o in enumerate(outages))
    weather = NetworkRecord(events, np.array([0.0]), np.array([1]))

    def f(y):
        return math.exp(-y / 1.5) / 1.5 if y >= 0 else 0.0

    mixed = math.prod(
        f(x) / (4 * (0.5 * f(x) + 0.2 * f(x - 40.0) + 0.3 * f(x - 20.0))) for x in outages[:3]
    )
    after = (1 / (4 * 0.25)) ** 2  # rate ratio only: plain outages under both
    exposure = math.exp(-lam * end + 4 * lam * 25.0 + 4 * 0.25 * lam * (end - 25.0))
    assert importance.weight(cfg, weather, end) == pytest.approx(mixed * after * exposure, rel=1e-9)
    # before the mixture's last event the weight is the mixture's alone
    early = math.prod(
        f(x) / (4 * (0.5 * f(x) + 0.2 * f(x - 40) + 0.3 * f(x - 20))) for x in (1, 23)
    )
    expected = early * math.exp(-lam * 20.0 + 4 * lam * 20.0)
    assert importance.weight(cfg, weather, 20.0) == pytest.approx(expected, rel=1e-9)


def test_a_wider_shifted_law_weighs_by_its_own_density_and_rescales_the_draw():
    """`shifted_scale` 5: a shifted outage is T + a draw of the exponential law of mean 5 (the
    plain draw rescaled, so the other draws stay as they were), and weighs f(x) over
    (1 - m) f(x) + m g(x - T), g that law."""
    tilt = "disconnects.outage_mix=0.4;disconnects.outage_shift=30;disconnects.shifted_scale=5"
    cfg = apply_overrides(Scenario(), {**STEADY, "tilt": tilt})
    outages = (2.0, 33.0, 41.0)
    events = tuple(NetworkEvent(5.0 + 10 * i, "reset", o) for i, o in enumerate(outages))
    weather = NetworkRecord(events, np.array([0.0]), np.array([1]))

    def f(y, scale=1.5):
        return math.exp(-y / scale) / scale if y >= 0 else 0.0

    expected = math.prod(f(x) / (0.6 * f(x) + 0.4 * f(x - 30.0, 5.0)) for x in outages)
    assert importance.weight(cfg, weather, 60.0) == pytest.approx(expected, rel=1e-9)

    busy = {**STEADY, "disconnects.rate_scale": 10.0, "disconnects.outage_mix": 0.5}
    narrow = apply_overrides(Scenario(), {**busy, "disconnects.outage_shift": 30.0})
    wide = apply_overrides(narrow, {"disconnects.shifted_scale": 5.0})
    shifted = 0
    for session in range(20):
        a, b = session_weather(narrow, 7, session), session_weather(wide, 7, session)
        for e, g in zip(a.events, b.events, strict=True):
            if e.outage >= 30.0:
                assert g.outage - 30.0 == pytest.approx((e.outage - 30.0) * 5.0 / 1.5, rel=1e-12)
                shifted += 1
            else:
                assert g.outage == e.outage
    assert shifted > 10


@pytest.mark.parametrize("end", [8.0, 20.0])
def test_shift_once_weights_average_to_one(end):
    """E_tilt[L] = 1 over weathers drawn under a shift-once tilt that often ends its mixture
    inside the window (shifts 3 and 1.5 s, rate 3x then 1x; seeded, 4,000 sessions, within 4
    standard errors), also at an end before the horizon."""
    tilt = (
        "disconnects.rate_scale=3;disconnects.outage_mix=0.2;disconnects.outage_shift=3;"
        "disconnects.outage_mix2=0.2;disconnects.outage_shift2=1.5;disconnects.shift_once=true;"
        f"disconnects.after_shift_rate={1 / 3}"
    )
    cfg = apply_overrides(Scenario(), {**STEADY, "horizon": 20.0, "tilt": tilt})
    tilted = importance.tilted(cfg)
    weathers = [session_weather(tilted, 4, s) for s in range(4000)]
    stopped = [tilted.disconnects.last_shifted([e.outage for e in w.events]) for w in weathers]
    assert 0.3 < np.mean([i is not None for i in stopped]) < 0.95  # the switch is exercised
    w = np.array([importance.weight(cfg, weather, end) for weather in weathers])
    se = w.std(ddof=1) / math.sqrt(len(w))
    assert abs(w.mean() - 1.0) < 4 * se
    assert se < 0.03


def test_a_shift_once_tilt_that_stops_the_disconnects_is_refused():
    """after_shift_rate 0 would make the scenario's later disconnects impossible under the tilt
    (an infinite weight, never drawn): refused, naming the setting."""
    tilt = "disconnects.outage_mix=0.5;disconnects.outage_shift=30;disconnects.shift_once=true"
    cfg = apply_overrides(Scenario(), {**STEADY, "tilt": tilt})
    importance.check_tilt(cfg)
    with pytest.raises(ConfigError, match="after_shift_rate"):
        importance.check_tilt(
            apply_overrides(cfg, {"tilt": tilt + ";disconnects.after_shift_rate=0"})
        )


def test_shift_once_draws_plain_events_at_the_rate_after_its_last_shifted_outage():
    """After the mixture's last event no outage is shifted, and the events come at the rate
    after (here 0: none at all); before it, the draws are those of the plain mixture."""
    mixed = apply_overrides(
        Scenario(),
        {
            **STEADY,
            "disconnects.rate_scale": 10.0,
            "disconnects.outage_mix": 0.5,
            "disconnects.outage_shift": 30.0,
        },
    )
    once = apply_overrides(
        mixed, {"disconnects.shift_once": True, "disconnects.after_shift_rate": 0.0}
    )
    cut = 0
    for session in range(40):
        a, b = session_weather(mixed, 6, session), session_weather(once, 6, session)
        last = once.disconnects.last_shifted([e.outage for e in a.events])
        kept = len(a.events) if last is None else last + 1
        assert b.events == a.events[:kept]
        cut += kept < len(a.events)
    assert cut > 10


def test_the_two_shift_mixture_draws_each_component_at_its_share():
    """Component j is drawn with probability m_j from one uniform per event; with outage_mix2 = 0
    the draws are the one-shift mixture's, bit for bit."""
    base = apply_overrides(Scenario(), {**STEADY, "disconnects.rate_scale": 20.0})
    one = apply_overrides(base, {"disconnects.outage_mix": 0.3, "disconnects.outage_shift": 100.0})
    idle = apply_overrides(one, {"disconnects.outage_shift2": 50.0})
    two = apply_overrides(idle, {"disconnects.outage_mix2": 0.2})
    counts, n = np.zeros(3), 0
    for session in range(60):
        p, a, b, c = (session_weather(cfg, 5, session) for cfg in (base, one, idle, two))
        assert a.events == b.events
        for e, f, g in zip(p.events, a.events, c.events):
            assert g.outage - e.outage in (0.0, 50.0, 100.0)
            if f.outage != e.outage:  # the first component: the same draws pick it
                assert g.outage == f.outage
            counts[[0.0, 50.0, 100.0].index(g.outage - e.outage)] += 1
            n += 1
    shares = counts / n
    tol = 4 * np.sqrt(np.array([0.5, 0.2, 0.3]) * (1 - np.array([0.5, 0.2, 0.3])) / n)
    assert np.all(np.abs(shares - [0.5, 0.2, 0.3]) < tol)


def test_the_shifted_shares_may_not_exceed_one():
    with pytest.raises(ConfigError) as e:
        apply_overrides(Scenario(), {"disconnects.outage_mix": 0.7, "disconnects.outage_mix2": 0.4})
    assert "outage_mix2" in str(e.value) and "0.4" in str(e.value) and "at most 1" in str(e.value)


def test_an_all_shifted_two_shift_tilt_covers_a_scenario_shifted_at_least_as_far():
    """No plain part: the tilt must still reach every outage of the scenario (itself shifted by
    10 s here): shifts of 5 and 8 do, shifts of 12 and 8 do too (the 8 covers from 8 up), 12 and
    15 do not."""
    shifted = apply_overrides(
        Scenario(), {"disconnects.outage_mix": 1.0, "disconnects.outage_shift": 10.0}
    )
    both = "disconnects.outage_mix=0.5;disconnects.outage_mix2=0.5;"
    apply_overrides(
        shifted, {"tilt": both + "disconnects.outage_shift=5;disconnects.outage_shift2=8"}
    )
    apply_overrides(
        shifted, {"tilt": both + "disconnects.outage_shift=12;disconnects.outage_shift2=8"}
    )
    with pytest.raises(ConfigError, match="no plain part is left"):
        apply_overrides(
            shifted, {"tilt": both + "disconnects.outage_shift=12;disconnects.outage_shift2=15"}
        )


def test_one_long_outage_estimate_covers_the_exact_value():
    """P(an outage > 20 s in 20 s) = 1 - exp(-l W e^(-20/1.5)) (1.6e-6) from 2,000 weathers under
    the shifted mixture `--tilt auto` builds (shift once, plain-neutral rate): within 4 standard
    errors, not degenerate, with a variance per session more than 50,000 times below crude Monte
    Carlo's (measured 114,000 at seed 9; a mixture shifting every outage, at the scenario's rate:
    35,500)."""
    cfg = rare.long_outage_scenario()
    exact = rare.long_outage_exact(cfg)
    assert exact == pytest.approx(1.6196e-6, rel=1e-4)
    r = rare.long_outage_estimate(cfg, 9, 0, 2000)
    assert not r.degenerate
    assert abs(r.estimate - exact) < 4 * r.se
    assert exact * (1 - exact) / (r.se**2 * 2000) > 5e4


def test_the_longest_outage_merges_overlapping_events():
    events = (NetworkEvent(0.0, "close", 5.0), NetworkEvent(3.0, "reset", 4.0))
    events += (NetworkEvent(10.0, "close", 6.5),)
    weather = NetworkRecord(events, np.array([0.0]), np.array([1]))
    assert tilting.longest_outage(weather, 20.0) == 7.0
    assert tilting.longest_outage(weather, 9.0) == 7.0
    assert tilting.longest_outage(weather, 2.0) == 5.0


def test_the_mixture_is_added_only_for_a_few_failures_by_an_outage_past_patience(monkeypatch):
    """One failure mode seen (each failing session's downtime one outage, the other spells short
    or a reconnect window away): one shift, SAFETY x the shortest downtime, the shifted share
    1/(1 + Lambda) and the plain-neutral rate; none while MIN_ELITE sessions fail, or none failed
    by outlasting the client."""
    cfg = apply_overrides(Scenario(), STEADY)
    weathers = {
        2: (NetworkEvent(5.0, "close", 48.0), NetworkEvent(55.0, "reset", 2.0)),  # 48 + 2
        5: (NetworkEvent(1.0, "close", 3.0), NetworkEvent(10.0, "half_open", 44.0)),  # 44 + 3
    }
    monkeypatch.setattr(  # mixture() reads each session's weather: these ones
        tilting,
        "session_weather",
        lambda trial, seed, s: NetworkRecord(
            weathers.get(s, (NetworkEvent(9.0, "close", 1.0),)), np.array([0.0]), np.array([1])
        ),
    )
    n = tilting.MIN_ELITE + 5
    sessions, ends = np.arange(n), np.full(n, 60.0)
    outlasted = np.isin(sessions, [2, 5])

    def pilot(adverse, outlasted):
        return tilting.Pilot(cfg, sessions, ends, np.ones(n), adverse, np.ones(n), outlasted)

    total = tilting.shifted_share(cfg, 1, pilot(outlasted, outlasted))
    assert total == pytest.approx(1 / (1 + 0.05 * 60.0))  # one shifted outage per session
    assert tilting.mixture(cfg, 1, pilot(outlasted, outlasted)) == {
        "disconnects.rate_scale": pytest.approx(cfg.disconnects.rate_scale / (1 - total)),
        "disconnects.shift_once": True,
        "disconnects.after_shift_rate": pytest.approx(1 - total),  # back to the scenario's rate
        "disconnects.outage_mix": pytest.approx(total),
        "disconnects.outage_shift": pytest.approx(tilting.SAFETY * 47.0),
    }
    assert tilting.mixture(cfg, 1, pilot(outlasted, np.zeros(n, bool))) == {}
    assert tilting.mixture(cfg, 1, pilot(np.ones(n, bool), outlasted)) == {}


def test_the_refit_puts_the_long_shift_below_the_shortest_outage_that_failed_alone(monkeypatch):
    """Under a shift-once pilot (long shift 40): sessions failed by outages of 47, 44 and 50 (each
    the mixture's last), one by 3 + 2 s (nothing shifted: not counted), one with 42 did not
    fail. The refit: 44 - NEAR x 1.5."""
    cfg = apply_overrides(Scenario(), STEADY)
    tilt = {
        "disconnects.outage_mix": 0.5,
        "disconnects.outage_shift": 40.0,
        "disconnects.shift_once": True,
    }
    weathers = {
        0: (NetworkEvent(5.0, "close", 47.0),),
        1: (NetworkEvent(2.0, "close", 1.0), NetworkEvent(9.0, "reset", 44.0)),
        2: (NetworkEvent(4.0, "close", 3.0), NetworkEvent(50.0, "reset", 50.0)),
        3: (NetworkEvent(4.0, "close", 3.0), NetworkEvent(8.0, "reset", 2.0)),
        4: (NetworkEvent(4.0, "close", 42.0),),  # did not fail
    }
    n = len(weathers)
    failed = np.array([True, True, True, True, False])
    trial = apply_overrides(cfg, {"tilt": importance.tilt_text(tilt)})
    monkeypatch.setattr(
        tilting,
        "pilot",
        lambda *a: tilting.Pilot(
            trial, np.arange(n), np.full(n, 200.0), np.ones(n), failed, np.ones(n), failed
        ),
    )
    monkeypatch.setattr(
        tilting,
        "session_weather",
        lambda trial, seed, s: NetworkRecord(weathers[s], np.array([0.0]), np.array([1])),
    )
    got = tilting.refined(cfg, 1, tilt, n)
    assert got == {**tilt, "disconnects.outage_shift": pytest.approx(44.0 - tilting.NEAR * 1.5)}
    failed[:3] = False
    assert tilting.refined(cfg, 1, tilt, n) == tilt  # nothing failed by one long outage


def test_failure_spells_are_the_longest_and_the_longest_within_a_reconnect_window():
    events = (NetworkEvent(0.0, "close", 5.0), NetworkEvent(3.0, "reset", 4.0))  # 0-7
    events += (NetworkEvent(30.0, "close", 20.0), NetworkEvent(100.0, "close", 12.0))
    weather = NetworkRecord(events, np.array([0.0]), np.array([1]))
    assert weather.outage_spells(200.0) == [(0.0, 7.0), (30.0, 50.0), (100.0, 112.0)]
    assert tilting.failure_spells(weather, 200.0, 60.0) == (20.0, 12.0)  # 50 -> 100: 50 s apart
    assert tilting.failure_spells(weather, 200.0, 40.0) == (20.0, 7.0)  # 7 -> 30: 23 s apart
    assert tilting.failure_spells(weather, 200.0, 10.0) == (20.0, 0.0)
    assert tilting.failure_spells(weather, 20.0, 60.0) == (7.0, 0.0)


def _weather(*spells):
    return NetworkRecord(
        tuple(NetworkEvent(a, "close", b - a) for a, b in spells), np.array([0.0]), np.array([1])
    )


def test_a_failed_reconnect_in_a_pile_of_outages_is_told_from_one_or_two():
    # a reconnect from 10 s to 66 s (the stress pilot's, rounded)
    pile = _weather((10, 17.5), (19, 21), (23, 31.8), (33, 38.4), (40, 43.7), (45, 47), (52, 66))
    assert tilting.is_pile(pile, 10.0, 66.0)  # 14 + 8.8 of 43.4 s
    assert not tilting.is_pile(_weather((10, 70)), 10.0, 66.0)  # one outage spans it
    assert not tilting.is_pile(_weather((10, 36), (38, 64), (65, 65.5)), 10.0, 66.0)  # a pair
    # only the parts inside the reconnect count: a long spell mostly after it is no pair member
    assert tilting.is_pile(_weather((2, 20), (25, 33), (35, 43), (45, 55), (60, 120)), 10, 66)
    assert not tilting.is_pile(pile, math.nan, math.nan)  # no failed reconnect: never a pile


def test_a_pile_counts_as_one_outage_spanning_its_reconnect(monkeypatch):
    """Session 1 failed in a pile (its reconnect 10 -> 66 s), session 0 by one outage of 60 s; read
    as a pair, the pile would have given a short shift of SAFETY x (14 + 8.8)/2."""
    cfg = apply_overrides(Scenario(), STEADY)
    weathers = {
        0: _weather((5, 65)),
        1: _weather((10, 17.5), (19, 21), (23, 31.8), (33, 38.4), (40, 43.7), (45, 47), (52, 66)),
    }
    monkeypatch.setattr(tilting, "session_weather", lambda trial, seed, s: weathers[s])
    on = np.ones(2, bool)
    reconnects = np.array([[5.0, 61.0], [10.0, 66.0]])
    p = tilting.Pilot(
        cfg, np.arange(2), np.full(2, 100.0), np.ones(2), on, np.ones(2), on, reconnects
    )
    got = tilting.mixture(cfg, 1, p)
    assert "disconnects.outage_shift2" not in got  # one mode: no pair
    assert got["disconnects.outage_shift"] == pytest.approx(tilting.SAFETY * 56.0)
    unknown = dataclasses.replace(p, reconnects=None)  # as before: the pile is read as a pair
    assert tilting.mixture(cfg, 1, unknown)["disconnects.outage_shift2"] == pytest.approx(
        tilting.SAFETY * (14.0 + 8.8) / 2
    )


def test_two_failure_modes_give_one_shift_each_weighing_alike(monkeypatch):
    """Pilot failures by one outage (L2 small) and by two (L2 >= PAIR L1): a long shift from the
    one-outage downtime, a short one from half the pair's, shares 1/(1 + Lambda) in all (Lambda
    the disconnects the scenario gives a session), the rate the plain-neutral one, such that one
    long shifted outage weighs as two short ones (exponential outages: e^(-T1/s)/(r m1) =
    (e^(-T2/s)/(r m2))^2, r the plain-neutral rate)."""
    cfg = apply_overrides(Scenario(), STEADY)
    weathers = {
        0: (NetworkEvent(5.0, "close", 48.0),),  # one outage of 48 s: mode a
        1: (NetworkEvent(5.0, "reset", 25.0), NetworkEvent(32.0, "close", 24.0)),  # mode b
        2: (NetworkEvent(5.0, "reset", 30.0), NetworkEvent(38.0, "close", 26.0)),  # mode b
    }
    found = {
        s: tilting.failure_spells(NetworkRecord(e, np.array([0.0]), np.array([1])), 100.0, 60.0)
        for s, e in weathers.items()
    }
    assert found == {0: (48.0, 0.0), 1: (25.0, 24.0), 2: (30.0, 26.0)}

    monkeypatch.setattr(  # mixture() reads each session's weather: these ones
        tilting,
        "session_weather",
        lambda trial, seed, s: NetworkRecord(weathers[s], np.array([0.0]), np.array([1])),
    )
    n = 3
    on = np.ones(n, bool)
    p = tilting.Pilot(cfg, np.arange(n), np.full(n, 100.0), np.ones(n), on, np.ones(n), on)
    got = tilting.mixture(cfg, 1, p)
    total = 1 / (1 + 0.05 * 100.0)  # shifted_share: one shifted outage per session
    r = 1 / (1 - total)
    long, short = tilting.SAFETY * 48.0, tilting.SAFETY * 24.5
    assert got["disconnects.rate_scale"] == pytest.approx(cfg.disconnects.rate_scale * r)
    assert got["disconnects.outage_shift"] == pytest.approx(long)
    assert got["disconnects.outage_shift2"] == pytest.approx(short)
    m1, m2 = got["disconnects.outage_mix"], got["disconnects.outage_mix2"]
    assert m1 + m2 == pytest.approx(total)
    one_long = -long / 1.5 - math.log(r * m1)
    two_short = 2 * (-short / 1.5 - math.log(r * m2))
    assert one_long == pytest.approx(two_short, abs=1e-9)
    apply_overrides(cfg, {"tilt": importance.tilt_text(got)})  # a valid tilt
