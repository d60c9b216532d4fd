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


def faulty_sender(monkeypatch, upto: int, resume_at: int) -> None:
    """Make the server misbehave around frame 7: a batch containing it sends [start, upto) and then
    [resume_at, stop) — (7, 8) skips frame 7, (8, 7) sends it twice."""
    from model.server import StreamOnServer
    original = StreamOnServer.send_from

    def send_from(self, conn, start, now, stop=None):
        stop = self.generated if stop is None else stop
        if start <= 7 < stop:
            original(self, conn, start, now, upto)
            return original(self, conn, resume_at, now, stop)
        return original(self, conn, start, now, stop)

    monkeypatch.setattr(StreamOnServer, "send_from", send_from)
