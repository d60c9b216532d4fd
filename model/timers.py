"""TCP's retransmission timer per network condition: the RTO (RFC 6298) and when each attempt of
a lost segment is sent, on its own timer or probed first (Linux's tail loss probe).

Assumptions (README "Model assumptions"): the RTT is steady within a condition, so SRTT is its mean
round trip and RTTVAR its spread; the timer doubles after each timeout up to `rto_max`, and a
segment is given up after `tcp_retries` attempts.
"""

from __future__ import annotations

import math

import numpy as np

from model.config import CONDITIONS, Condition, LossModel, settings_cache


def rto(link_cfg, cond: Condition) -> float:
    """RFC 6298 retransmission timeout for a steady RTT: SRTT + 4*RTTVAR, clamped."""
    srtt = 2 * (link_cfg.propagation + cond.jitter.mean())
    rttvar = math.sqrt(2 * cond.jitter.var())
    return min(max(srtt + 4 * rttvar, link_cfg.rto_min), link_cfg.rto_max)


def retransmission_offsets(link_cfg, first_rto: float) -> np.ndarray:
    """Send time of attempt k relative to the first: sum of min(R*2^j, rto_max) for j < k; inf past
    the limit."""
    gaps = np.minimum(first_rto * 2.0 ** np.arange(link_cfg.tcp_retries), link_cfg.rto_max)
    return np.concatenate([[0.0], np.cumsum(gaps), [np.inf]])


def probed_offsets(link_cfg, first_rto: float) -> np.ndarray:
    """`retransmission_offsets` of a segment alone in flight under Linux's tail loss probe: the
    probe leaves one RTO after it (PTO = 2 SRTT + rto_min, capped by the RTO) and re-arms the RTO
    timer, which then backs off as usual: R, 2R, 4R, ... (measured on loopback: 0.206, 0.414,
    0.830, 1.66 s)."""
    gaps = np.minimum(first_rto * 2.0 ** np.arange(link_cfg.tcp_retries), link_cfg.rto_max)
    return np.concatenate([[0.0, first_rto], first_rto + np.cumsum(gaps), [np.inf]])


@settings_cache
def condition_tables(link_cfg, network_cfg) -> tuple[list, list, list, list, list, list]:
    """Per condition: its settings, retransmission offsets (arrays, and lists for scalar code), the
    client's lone messages' offsets (lists), mean RTT and long-run loss rate (the same for every
    stream of a scenario, so computed once)."""
    conditions = [network_cfg.condition(name) for name in CONDITIONS]
    offsets = [retransmission_offsets(link_cfg, rto(link_cfg, c)) for c in conditions]
    lone = probed_offsets if link_cfg.fast_recovery else retransmission_offsets
    message_offsets = [lone(link_cfg, rto(link_cfg, c)).tolist() for c in conditions]
    rtt = [2 * (link_cfg.propagation + c.jitter.mean()) for c in conditions]
    loss_rates = [c.loss.rate() if c.loss.model != LossModel.NONE else 0.0 for c in conditions]
    return conditions, offsets, [o.tolist() for o in offsets], message_offsets, rtt, loss_rates


# Linux's delayed-ACK timer (TCP_DELACK_MIN): a lone received segment is acknowledged this late,
# every second one at once
DELAYED_ACK = 0.040
