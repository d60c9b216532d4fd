"""Shared test helpers: scenarios stripped of randomness, for exact mechanism checks."""
from __future__ import annotations

import pytest

from model.config import Scenario, apply_overrides

CALM = {  # no loss, no jitter, no random disconnects, constant generation gaps
    "network.unstable.loss.model": "none",
    "network.unstable.jitter.kind": "constant",
    "network.unstable.jitter.scale": 0.0,
    "disconnects.rate_scale": 0.0,
    "content.frames": 500,
}


def calm(**overrides) -> Scenario:
    """The default scenario made deterministic, plus `path__with__underscores=value` overrides."""
    extra = {k.replace("__", "."): v for k, v in overrides.items()}
    return apply_overrides(Scenario(), {**CALM, **extra})


@pytest.fixture
def calm_scenario():
    return calm
