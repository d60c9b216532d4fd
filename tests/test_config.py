import dataclasses
import math

import numpy as np
import pytest

from model.config import ConfigError, Scenario, apply_overrides, settable_paths
from model.distributions import Dist


def test_every_leaf_is_documented_with_unit_and_allowed_values():
    settings = list(settable_paths(Scenario()))
    assert len(settings) > 60
    for s in settings:
        assert s.unit and s.doc and s.allowed, s.path


def test_override_by_dotted_path_returns_a_new_frozen_config():
    base = Scenario()
    cfg = apply_overrides(
        base,
        ["network.unstable.jitter.scale=0.05", "client.backoff.jitter=equal", "content.frames=20"],
    )
    assert cfg.network.unstable.jitter.scale == 0.05
    assert cfg.client.backoff.jitter == "equal"
    assert cfg.content.frames == 20 and isinstance(cfg.content.frames, int)
    assert base.content.frames == 1000
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.content.frames = 3  # frozen


@pytest.mark.parametrize(
    "assignment, fragment",
    [
        ("client.ack_interval=-1", "client.ack_interval=-1.0: a number in [0.001, 1000000.0]"),
        ("client.strategy=teleport", "one of resume, restart"),
        ("client.backoff.max_attempts=2.5", "a whole number"),
        ("link.rto_max=0.1", "link.rto_max=0.1: at least rto_min"),
        ("network.unstable.jiter.scale=1", "did you mean network.unstable.jitter.scale"),
        ("disconnects.schedule=5:bogus:1", "kind one of close, reset, half_open"),
        ("network.poor.loss.p=abc", "network.poor.loss.p='abc'"),
        ("noequals", "expected dotted.path=value"),
    ],
)
def test_bad_values_name_the_field_the_value_and_what_is_allowed(assignment, fragment):
    with pytest.raises(ConfigError) as err:
        apply_overrides(Scenario(), [assignment])
    assert fragment in str(err.value)


def test_schedule_parses_sorted():
    cfg = apply_overrides(Scenario(), ["disconnects.schedule=12:reset:2; 5:close:1"])
    assert cfg.disconnects.scheduled() == [(5.0, "close", 1.0), (12.0, "reset", 2.0)]


@pytest.mark.parametrize(
    "dist",
    [
        Dist("constant", 0.3),
        Dist("exponential", 0.5),
        Dist("halfnormal", 0.2),
        Dist("lognormal", 0.02, 0.8),
        Dist("pareto", 0.05, 4.5),
        Dist("uniform", 2.0),
    ],
)
def test_distribution_samples_match_their_stated_moments(dist):
    # 200,000 draws: the sample mean is within 5 standard errors of the stated mean (false-alarm
    # rate about 6e-7); the variance check uses a 5 % relative band, wide enough for the
    # fourth-moment noise of these shapes at this n (Pareto shape 4.5 has a finite fourth moment).
    n = 200_000
    x = dist.sample(np.random.default_rng(11), n)
    assert (x >= 0).all()
    se = math.sqrt(dist.var() / n)
    assert abs(x.mean() - dist.mean()) <= 5 * se + 1e-12
    if dist.var() > 0:
        assert abs(x.var() / dist.var() - 1) < 0.05
