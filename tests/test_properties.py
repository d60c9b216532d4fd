"""Invariants that must hold for every stream of every valid configuration (hypothesis)."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import EVERY_TICK, assert_same
from invariants import check_stream_invariants
from model.config import Scenario, apply_overrides
from model.records import merged_spells
from model.simulation import run_stream, simulate

probability = st.floats(0.0, 0.3)
configs = st.fixed_dictionaries(
    {
        "content.frames": st.integers(1, 150),
        "network.initial": st.sampled_from(["stable", "unstable", "poor"]),
        "network.unstable.mean_sojourn": st.floats(2.0, 60.0),
        "network.poor.mean_sojourn": st.floats(2.0, 60.0),
        "network.unstable.loss.p": probability,
        "disconnects.rate_scale": st.floats(0.0, 20.0),
        "disconnects.weight_half_open": st.floats(0.0, 1.0),
        "disconnects.outage.scale": st.floats(0.0, 40.0),
        "server.buffer_bytes": st.integers(50, 20_000),
        "server.when_full": st.sampled_from(["block", "evict"]),
        "server.replay_from": st.sampled_from(["client", "ack"]),
        "server.retention": st.floats(0.0, 60.0),
        "client.strategy": st.sampled_from(["resume", "restart"]),
        "client.ack_interval": st.floats(0.05, 3.0),
        "client.ping_interval": st.floats(0.5, 20.0),
        "client.ping_timeout": st.floats(0.5, 20.0),
        "client.auth_failure_prob": st.sampled_from([0.0, 0.2]),
        "client.backoff.jitter": st.sampled_from(["none", "full", "equal", "decorrelated"]),
        "client.backoff.max_attempts": st.integers(1, 8),
        "link.rto_min": st.sampled_from([0.2, 1.0]),
        "horizon": st.floats(30.0, 400.0),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(overrides=configs, seed=st.integers(0, 2**32 - 1))
def test_stream_invariants(overrides, seed):
    cfg = apply_overrides(Scenario(), overrides)
    for stream in range(2):
        check_stream_invariants(run_stream(cfg, seed, stream), cfg)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(overrides=configs, corruption=st.sampled_from([0.0, 0.01]), seed=st.integers(0, 2**32 - 1))
def test_sleeping_through_ack_ticks_never_changes_a_table(overrides, corruption, seed):
    """The tables of a client that sleeps through the ticks that only ack are those of one woken
    at every tick (to rounding: a slept tick's time is summed by the client, not SimPy's clock)."""
    cfg = apply_overrides(Scenario(), {**overrides, "link.corruption_rate": corruption})
    sleepy, woken = (
        simulate(cfg, 2, seed=seed, **extra) for extra in ({}, {"components": EVERY_TICK})
    )
    assert_same(sleepy, woken, tolerance=1e-9)


intervals = st.lists(
    st.tuples(st.floats(0.0, 100.0), st.sampled_from([0.0, 0.5, 1.0]) | st.floats(0.0, 30.0)),
    max_size=40,
)


@given(intervals)
def test_merged_spells_are_the_union_of_the_outages(pairs):
    """`merged_spells` (numpy) against the plain definition: sorted, disjoint spells whose union
    is the union of the non-empty [start, start + outage) intervals; touching ones are one spell."""
    pairs = sorted(pairs, key=lambda p: p[0])
    starts = np.array([s for s, _ in pairs], dtype=float)
    ends = np.array([s + o for s, o in pairs], dtype=float)
    got = list(zip(*(a.tolist() for a in merged_spells(starts, ends))))
    want: list[list[float]] = []
    for start, stop in zip(starts.tolist(), ends.tolist()):
        if stop <= start:
            continue
        if want and start <= want[-1][1]:
            want[-1][1] = max(want[-1][1], stop)
        else:
            want.append([start, stop])
    assert got == [tuple(w) for w in want]
    assert all(b < c for (_, b), (c, _) in zip(got, got[1:]))  # disjoint, not touching
