"""Invariants every stream must satisfy, whatever the configuration (shared by several tests)."""

import math

import numpy as np

from conftest import rows
from model.records import ERRORS


def check_stream_invariants(run, cfg, run_on: bool = True) -> None:
    """Assert the model-core invariants for one finished stream. With `run_on`, the simulation is
    continued past the horizon to check that every buffer is eventually freed."""
    stream = run.stream
    row, discs = rows(run)
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
        # nobody reconnects (let alone recovers) while the network is unreachable
        assert d["outage_left"] >= 0
        for done in ("connected_at", "recovered_at"):
            assert not d[done] < d["time"] + d["outage_left"] - 1e-9
        if d["outcome"] == "recovered":
            assert d["recovered_at"] >= d["time"]

    # replay-buffer bytes: never negative, never above capacity plus one frame
    trace = run.server.trace(stream)
    b = np.array(trace.bytes)
    assert (b >= 0).all() and (b <= cfg.server.buffer_bytes + frames.size.max()).all()
    # ... and zero once the stream has ended and the retention time has passed: run the
    # simulation on past the horizon until every pending ack or expiry has fired
    end = row["end_time"]
    if row["outcome"] != "censored" and run_on and len(run.server.streams) == 1:
        run.env.run(until=cfg.horizon + cfg.server.retention + 10_000)
        run.server.trace(stream)  # reporting applies the acks queued since its last event
        held = run.server.streams.get(stream)
        assert held is None or held.buffer_bytes(run.env.now) == 0

    # simulated time never goes back
    assert all(t1 >= t0 for t0, t1 in zip(trace.times, trace.times[1:]))
    log_times = [t for t, _ in run.client.log]
    assert all(t1 >= t0 for t0, t1 in zip(log_times, log_times[1:]))
    spent = sum(v for k, v in row.items() if k.startswith("time_"))
    assert math.isclose(spent, end - row["start_time"], abs_tol=1e-6)
