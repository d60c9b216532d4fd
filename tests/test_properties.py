"""Invariants that must hold for every stream of every valid configuration (hypothesis)."""
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.client import ERRORS
from model.config import Scenario, apply_overrides
from model.simulation import disconnect_rows, run_stream, stream_row

probability = st.floats(0.0, 0.3)
configs = st.fixed_dictionaries({
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
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(overrides=configs, seed=st.integers(0, 2**32 - 1))
def test_stream_invariants(overrides, seed):
    cfg = apply_overrides(Scenario(), overrides)
    for stream in range(2):
        run = run_stream(cfg, seed, stream)
        row, discs = stream_row(run, cfg), disconnect_rows(run)
        frames = run.server.content[stream][0]
        health = run.client.health
        delivered = np.concatenate(health.digests) if health.digests else np.empty(0, np.uint64)

        # the application buffer is a prefix of what the server produced: no duplicate, no corruption
        assert len(delivered) == health.have
        assert np.array_equal(delivered, frames.digest[: health.have])
        assert row["duplicates_delivered"] == 0
        # completed implies the whole response with an identical hash
        if row["outcome"] == "completed":
            assert row["integrity_ok"] and health.have == len(frames)
        # every stream ends completed, in a typed failure, or censored at the horizon
        assert row["outcome"] in ("completed", "failed", "censored")
        assert (row["outcome"] == "failed") == (row["error"] in ERRORS)
        # every disconnect ends recovered or in the stream's typed failure / censoring
        for d in discs:
            assert d["outcome"] == "recovered" or d["outcome"] in ERRORS or d["outcome"] == "censored"
            assert d["detected_at"] >= d["time"]
            if d["outcome"] == "recovered":
                assert d["recovered_at"] >= d["time"]

        # replay-buffer bytes: never negative, never above capacity plus one frame
        trace = run.server.traces[stream]
        b = np.array(trace.bytes)
        assert (b >= 0).all() and (b <= cfg.server.buffer_bytes + frames.size.max()).all()
        # ... and zero once the stream has ended and the retention time has passed: run the
        # simulation on past the horizon until every pending ack or expiry has fired
        end = row["end_time"]
        if row["outcome"] != "censored":
            run.env.run(until=cfg.horizon + cfg.server.retention + 10_000)
            held = run.server.streams.get(stream)
            assert held is None or held.buffer_bytes(run.env.now) == 0

        # simulated time never goes back
        assert all(t1 >= t0 for t0, t1 in zip(trace.times, trace.times[1:]))
        log_times = [t for t, _ in run.client.log]
        assert all(t1 >= t0 for t0, t1 in zip(log_times, log_times[1:]))
        assert math.isclose(sum(v for k, v in row.items() if k.startswith("time_")), end, abs_tol=1e-6)
