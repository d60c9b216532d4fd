"""Scheduling at absolute simulated times (clamped: float sums may land a hair before `now`)."""

from __future__ import annotations

import math

import simpy


def until(env: simpy.Environment, t: float) -> simpy.Timeout:
    """An event that fires at absolute time t (or now, if t is a rounding error in the past)."""
    return env.timeout(max(0.0, t - env.now))


def at(env: simpy.Environment, t: float, action, *args) -> None:
    """Run `action(*args)` at absolute time t; never if t is infinite (a message that never
    arrives)."""
    if math.isfinite(t):
        until(env, t).callbacks.append(lambda _event: action(*args))
