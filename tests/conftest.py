"""Shared test helpers: scenarios stripped of randomness, for exact mechanism checks, and a
faulty server passed into a run through its seams (`simulation.Components`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import settings

from model.client import Client
from model.config import Scenario, apply_overrides
from model.engines import engine_for
from model.records import DISCONNECT_SCHEMA, STREAM_SCHEMA
from model.simulation import Components

# The suite is reproducible: hypothesis derives its examples from each test, not from a random
# seed, so a run on CI meets the examples a run here met. `HYPOTHESIS_PROFILE=explore` looks
# further, at random, for a session spent hunting counterexamples.
settings.register_profile("suite", derandomize=True)
settings.register_profile("explore", derandomize=False, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))

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


class FaultySend:
    """A server stream that misbehaves around frame 7: a batch containing it sends [start, upto)
    and then [resume_at, stop) — (7, 8) skips frame 7, (8, 7) sends it twice."""

    upto = resume_at = 0

    def send_from(self, conn, start, now, stop=None):
        stop = self.generated if stop is None else stop
        if start <= 7 < stop:
            super().send_from(conn, start, now, self.upto)
            return super().send_from(conn, self.resume_at, now, stop)
        return super().send_from(conn, start, now, stop)


class EveryTick(Client):
    """A client that wakes at every ack tick, never sleeping through the ones that only ack."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.acks.sleeps = False


EVERY_TICK = Components(client=EveryTick)


def faulty_sender(cfg: Scenario, upto: int, resume_at: int) -> Components:
    """Components whose server streams (of `cfg`'s engine) send frame 7 wrongly (`FaultySend`)."""
    stream = engine_for(cfg).stream_class
    settings = {"upto": upto, "resume_at": resume_at}
    faulty = type(f"Faulty{stream.__name__}", (FaultySend, stream), settings)
    return Components(stream=faulty)


def rows(run) -> tuple[dict, list[dict]]:
    """A finished stream's row of the stream table and its rows of the disconnect table."""
    record = run.record()
    return STREAM_SCHEMA.row(record), [DISCONNECT_SCHEMA.row(d) for d in record.disconnect_log]


def kill_once_a_part_is_written(
    body: str,
    parts: Path,
    pattern: str = "streams/part-*.parquet",
    group: bool = False,
    sig: int = signal.SIGKILL,
) -> int:
    """Run `body` (Python, its sessions slowed by 0.05 s each: same rows, later) in a child of its
    own process group, send it (or its whole group) `sig` once a file matching `pattern` exists
    under `parts`, and return how many do. Workers die with their parent: the group is then
    empty."""
    script = (
        "import time, model.simulation as sim\n"
        "real = sim.run_session\n"
        "sim.run_session = lambda *a, **k: (time.sleep(0.05), real(*a, **k))[1]\n"
    ) + textwrap.dedent(body)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    child = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while not list(parts.rglob(pattern)):
            assert child.poll() is None, "the child ended before writing a part"
            assert time.monotonic() < deadline, "no part written within 60 s"
            time.sleep(0.01)
        (os.killpg if group else os.kill)(child.pid, sig)
        child.wait(timeout=30)  # SIGINT: the command ends by itself
    finally:
        child.kill()
        child.wait()
    deadline = time.monotonic() + 10
    while True:  # a group with no process left is gone
        try:
            os.killpg(child.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "a process of the killed run is still running"
        time.sleep(0.05)
    return len(list(parts.rglob(pattern)))


def assert_same(a, b, tolerance: float | None = None) -> None:
    """Two runs' tables are identical, bit for bit (or, with a `tolerance`, to that relative and
    absolute difference)."""
    from pandas.testing import assert_frame_equal

    close = {"check_exact": True} if tolerance is None else {"rtol": tolerance, "atol": tolerance}
    assert_frame_equal(a.streams, b.streams, **close)
    assert_frame_equal(a.disconnects, b.disconnects, **close)
