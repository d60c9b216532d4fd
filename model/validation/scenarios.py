"""The special cases' configurations: the model put where a closed form is known.

Each function maps the model onto a textbook setting; the package docstring says how and why
(section 1: completion time under Poisson disconnects; 2: backoff; 3: the link).
"""

from __future__ import annotations

import functools
import math

from model.config import Scenario, apply_overrides

# ---- completion-time special case
RATE = 0.1  # lambda, disconnects per second
FRAMES = 1000  # N
FRAME_BYTES = 1000
WORK = 10.0  # T = N s, seconds of serialisation
FRAME_TIME = WORK / FRAMES  # s
OUTAGE = 1.0  # constant outage O
GUARD = 1e-6  # c = O + GUARD
MEAN_OUTAGE = 1.0  # exponential outage mean m
POLL = 0.05  # attempt grid for exponential outages
HORIZON = 1000.0

# ---- fast retransmit special case: frames FAST_GAP apart, Bernoulli loss FAST_LOSS
# g, s between departures: g >= 5/4 RTT (RTT = 0.04 s); R/g and RTT/g far from ratios of small
# integers, so that no retransmission lands exactly on another's time (a tie float rounding decides)
FAST_GAP = 0.115
FAST_LOSS = 0.1  # p, per transmission

# ---- backoff special case
BREAK_AT = 0.5
BACKOFF_MEAN_OUTAGE = 6.0
BACKOFF_ATTEMPTS = 4


def completion_scenario(strategy: str, downtime: str) -> Scenario:
    """The completion-time special case (package docstring, section 1)."""
    step = OUTAGE + GUARD if downtime == "constant" else POLL
    outage = (
        {"disconnects.outage.kind": "constant", "disconnects.outage.scale": OUTAGE}
        if downtime == "constant"
        else {"disconnects.outage.kind": "exponential", "disconnects.outage.scale": MEAN_OUTAGE}
    )
    return apply_overrides(
        Scenario(name=f"validate-{strategy}-{downtime}"),
        {
            "network.initial": "unstable",
            "network.unstable.loss.model": "none",
            "network.unstable.jitter.kind": "constant",
            "network.unstable.jitter.scale": 0.0,
            "network.unstable.disconnect_rate": RATE,
            "network.unstable.mean_sojourn": math.inf,
            "disconnects.rate_scale": 1.0,
            "disconnects.schedule": "",
            "disconnects.weight_close": 1.0,
            "disconnects.weight_reset": 0.0,
            "disconnects.weight_half_open": 0.0,
            **outage,
            "link.propagation": 0.0,
            "link.bandwidth": FRAMES * FRAME_BYTES / WORK,
            "link.corruption_rate": 0.0,
            "link.syn_rto": 10 * step,  # one SYN per attempt
            "content.kind": "large",
            "content.frames": FRAMES,
            "content.frame_bytes": FRAME_BYTES,
            "content.envelope_bytes": 0,
            "server.gap.kind": "constant",
            "server.gap.scale": 0.0,
            "server.buffer_bytes": 10**9,
            "server.when_full": "block",
            "server.retention": 1e6,
            "server.replay_from": "client",
            "client.strategy": strategy,
            "client.connect_timeout": step,
            "client.auth_failure_prob": 0.0,
            "client.ping_interval": 1e4,
            "client.ping_timeout": 1e4,
            "client.backoff.policy": "constant",
            "client.backoff.jitter": "none",
            "client.backoff.first_delay": 0.0,
            "client.backoff.base": 0.0,
            "client.backoff.max_attempts": 10**6,
            "client.backoff.deadline": 1e6,
            "session.streams": 1,
            "horizon": HORIZON,
        },
    )


def backoff_scenario(outage: float) -> Scenario:
    """The backoff special case (package docstring, section 2) with one close at 0.5 s and
    `outage`."""
    return apply_overrides(
        _backoff_base(), {"disconnects.schedule": f"{BREAK_AT!r}:close:{outage!r}"}
    )


@functools.cache
def _backoff_base() -> Scenario:
    """The backoff special case without its close (validated once, not once a replication)."""
    return apply_overrides(
        Scenario(name="validate-backoff"),
        {
            "network.unstable.loss.model": "none",
            "network.unstable.jitter.kind": "constant",
            "network.unstable.jitter.scale": 0.0,
            "network.unstable.mean_sojourn": math.inf,
            "disconnects.rate_scale": 0.0,
            "link.propagation": 0.01,
            "link.syn_rto": 1.0,
            "link.corruption_rate": 0.0,
            "content.frames": 50,
            "server.gap.kind": "constant",
            "server.gap.scale": 0.02,
            "client.connect_timeout": 3.02,
            "client.handshake_rtts": 2,
            "client.auth_failure_prob": 0.0,
            "client.ping_interval": 1e4,
            "client.ping_timeout": 1e4,
            "client.backoff.policy": "exponential",
            "client.backoff.jitter": "none",
            "client.backoff.first_delay": 0.0,
            "client.backoff.base": 0.5,
            "client.backoff.factor": 2.0,
            "client.backoff.cap": 10.0,
            "client.backoff.max_attempts": BACKOFF_ATTEMPTS,
            "client.backoff.deadline": 60.0,
        },
    )


def link_scenario(loss: dict, fast_recovery: bool = False) -> Scenario:
    """No disconnects, no jitter, 20 ms one way; `loss` on the `unstable` condition; RTO uncapped
    (rto_max 1e6 s) with 30 retries, so R, 2R, 4R, ... holds for any loss run seen in practice.
    Every frame on its own RTO timer (the RFC 6298 textbook model), unless `fast_recovery`."""
    return apply_overrides(
        Scenario(name="validate-link"),
        {
            "network.unstable.jitter.kind": "constant",
            "network.unstable.jitter.scale": 0.0,
            "network.unstable.mean_sojourn": math.inf,
            "disconnects.rate_scale": 0.0,
            "link.propagation": 0.02,
            "link.rto_min": 1.0,
            "link.rto_max": 1e6,
            "link.tcp_retries": 30,
            "link.fast_recovery": fast_recovery,
            **{f"network.unstable.loss.{k}": v for k, v in loss.items()},
        },
    )
