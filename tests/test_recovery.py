"""TCP loss recovery (`model/recovery.py`): SACK/RACK fast retransmit, go-back-N after an RTO, and
the textbook per-frame RTO timers with `link.fast_recovery=false`.

Deterministic schedules use the calm link (20 ms one way, no jitter: RTT 40 ms, RTO = rto_min
0.2 s; a frame generated every 20 ms from 0.12 s): a transmission is lost exactly when it leaves
inside a scheduled black-hole. The replay tests draw random fates once and feed them to
connections in different batchings: a connection's arrivals must not depend on how its frames
were committed (the property that lets both engines agree).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from conftest import calm
from model.config import apply_overrides
from model.connection import Connection, FrameByFrameConnection
from model.link import LinkPhysics, Transmissions
from model.network import Weather
from model.simulation import run_stream
from model.timers import probed_offsets, retransmission_offsets

PROP, RTT, RTO = 0.02, 0.04, 0.2


def the_connection(schedule: str, fast: bool = True, **overrides):
    """The one connection of a calm stream with black-holes `schedule`."""
    cfg = calm(disconnects__schedule=schedule, link__fast_recovery=str(fast).lower(), **overrides)
    run = run_stream(cfg, 0, 0)
    (conn,) = run.server.streams[0].served
    conn.settle()  # every frame repaired, read or not
    return conn


def test_frames_lost_in_a_black_hole_shorter_than_the_rto_follow_the_first_frame_after_it():
    conn = the_connection("3.0:half_open:0.1")
    lost = (conn.depart >= 3.0) & (conn.depart < 3.1)
    first_after = conn.depart[np.argmax(conn.depart >= 3.1)]
    # its SACK reaches the server 40 ms after it left; every lost frame is resent then, +20 ms
    assert lost.sum() == 5
    assert conn.arrive[lost] == pytest.approx(first_after + PROP + RTT / 2 + PROP, abs=1e-12)
    textbook = the_connection("3.0:half_open:0.1", fast=False)
    assert textbook.arrive[lost][0] == pytest.approx(textbook.depart[lost][0] + RTO + PROP)
    assert (textbook.arrive[lost] > conn.arrive[lost] + 0.05).all()


def test_after_the_probe_and_an_rto_every_frame_lost_in_the_outage_follows_the_head():
    # black-hole [3.35, 3.85): the head's tail loss probe (+0.2 s) and first RTO (+0.4 s) fall
    # inside; after the RTO no new data leaves, so the next timeout (+0.8 s) brings them all
    conn = the_connection("3.35:half_open:0.5")
    lost = (conn.depart >= 3.35) & (conn.depart < 3.85)
    head = conn.depart[lost][0]
    assert lost.sum() == 25
    assert conn.arrive[lost] == pytest.approx(head + 4 * RTO + PROP, abs=1e-12)
    # textbook: each frame on its own timer (+0.2, +0.6 s); one sent 80 ms after the head waits
    # 0.6 s too
    textbook = the_connection("3.35:half_open:0.5", fast=False)
    fifth = np.flatnonzero(lost)[4]
    assert textbook.arrive[lost][0] == pytest.approx(head + 3 * RTO + PROP)
    assert textbook.depart[fifth] == pytest.approx(head + 0.08, abs=1e-4)
    assert textbook.arrive[fifth] == pytest.approx(textbook.depart[fifth] + 3 * RTO + PROP)


def test_the_tail_loss_probe_leaves_the_sender_open_to_the_sack_of_new_data():
    # black-hole [3.35, 3.65): the probe at +0.2 s is lost, but new data keeps leaving until the
    # RTO (+0.4 s, as Linux: measured on loopback), and the first frame after the hole is SACKed
    conn = the_connection("3.35:half_open:0.3")
    lost = (conn.depart >= 3.35) & (conn.depart < 3.65)
    first_after = conn.depart[np.argmax(conn.depart >= 3.65)]
    assert conn.depart[lost][0] + 2 * RTO > first_after + RTT
    assert conn.arrive[lost] == pytest.approx(first_after + RTT + PROP, abs=1e-12)


def test_a_lost_fast_retransmission_waits_for_the_rto():
    # 15 ms one way (RTT 30 ms): frame 5 is lost in a black-hole; frame 6's SACK resends it 30 ms
    # after frame 6 left, into another black-hole. In fast recovery an application-limited sender
    # sends no new data until the resend is acknowledged, so no later SACK can reveal the loss:
    # the timer, one RTO after the resend, repairs it (as the loopback trace in the README)
    prop, rtt = 0.015, 0.03
    d = the_connection("", link__propagation=prop).depart
    retry = d[6] + rtt
    holes = f"{d[5] - 0.001}:half_open:0.002;{retry - 0.001}:half_open:0.002"
    conn = the_connection(holes, link__propagation=prop)
    assert conn.arrive[5] == pytest.approx(retry + RTO + prop, abs=1e-12)
    assert (conn.arrive[6:12] == conn.arrive[5]).all()  # in order, behind it
    holes = f"{d[5] - 0.001}:half_open:0.002;{d[5] + RTO - 0.001}:half_open:0.002"
    textbook = the_connection(holes, fast=False, link__propagation=prop)
    assert textbook.arrive[5] == pytest.approx(d[5] + 3 * RTO + prop, abs=1e-12)


def test_rack_waits_a_quarter_rtt_for_a_frame_sent_right_after_the_lost_one():
    # every frame generated at once, on a 20 kB/s link: they leave back to back, ~2.4 ms apart
    cfg = dict(server__gap__scale=0.0, link__bandwidth=20000.0)
    d = the_connection("", **cfg).depart
    conn = the_connection(f"{d[20] - 0.0005}:half_open:0.001", **cfg)
    assert d[21] - d[20] < RTT / 4
    # lost when frame 21 is SACKed and RTT/4 has passed since its own round trip would have ended
    assert conn.raw[20] == pytest.approx(d[20] + RTT + RTT / 4 + PROP, abs=1e-12)


def test_a_tail_loss_waits_for_the_rto():
    d = the_connection("").depart
    conn = the_connection(f"{d[-1] - 0.001}:half_open:0.002")
    assert conn.arrive[-1] == pytest.approx(d[-1] + RTO + PROP, abs=1e-12)


def test_a_lost_pong_is_resent_when_the_frame_after_it_is_sacked():
    conn = the_connection("3.0:half_open:0.01")
    after = conn.depart[np.argmax(conn.depart >= 3.01)]
    # pong sent at 3.005 (lost); queued behind the frame sent at ~3.00 (lost too)
    assert conn.downstream_control(3.005) == pytest.approx(after + RTT + PROP, abs=1e-12)
    textbook = the_connection("3.0:half_open:0.01", fast=False)
    assert textbook.downstream_control(3.005) == pytest.approx(3.005 + RTO + PROP, abs=1e-12)


def test_the_setting_parses_and_defaults_to_fast_recovery():
    assert calm().link.fast_recovery is True
    assert apply_overrides(calm(), ["link.fast_recovery=false"]).link.fast_recovery is False


# ---- the same random fates, committed in different batchings


class Replayed(LinkPhysics):
    """A link whose transmissions at the departures `depart` were drawn once, in frame order, by
    the real physics; any batching replays the same fates (other sends draw as usual)."""

    def __init__(self, cfg, depart: np.ndarray, seed: int):
        rng = np.random.default_rng(seed)
        super().__init__(cfg, Weather(cfg, rng), rng)
        self.fates = super().transmissions(depart)

    def transmissions(self, depart, downstream=True, until=math.inf):
        f, i = self.fates, np.searchsorted(self.fates.depart, depart)
        return Transmissions(
            f.depart[i], f.sent[i], f.jitter[i], f.failures[i], f.cond[i], f.arrival[i]
        )

    def transmission(self, t, downstream=False):
        f, i = self.fates, int(np.searchsorted(self.fates.depart, t))
        if i < len(f.depart) and f.depart[i] == t:
            return float(f.sent[i]), float(f.jitter[i]), int(f.failures[i]), int(f.cond[i])
        return super().transmission(t, downstream)


LOSSY = {
    "network.unstable.loss.p": 0.1,
    "network.unstable.jitter.kind": "lognormal",
    "network.unstable.jitter.scale": 0.01,
    "disconnects.rate_scale": 1.0,
    "network.unstable.disconnect_rate": 0.5,
    "disconnects.weight_close": 0.0,
    "disconnects.weight_reset": 0.0,
    "disconnects.outage.scale": 0.4,
    "horizon": 60.0,
}


def committed(physics, depart, sizes, per_frame=False, reads=None):
    """A connection with frames leaving at `depart`, sent in batches of `sizes` (zero-byte frames
    on a fast link leave exactly when ready); the newest departure after each batch with the
    arrivals then (all repaired); every arrival time announced (per frame). With `reads` (a
    generator), the connection is instead read as a client does between batches, at random times
    up to the newest departure (repairing lazily), and repaired in full only at the end."""
    conn = (FrameByFrameConnection if per_frame else Connection)(physics, 0.0, 1e12)
    announced = []
    conn.on_frame = lambda c, t: announced.append(t)
    snapshots, start = [], 0
    for size in sizes:
        rows = np.arange(start, min(start + size, len(depart)))
        conn.send(depart[rows], rows, np.zeros(len(rows), dtype=np.int64), rows.astype(np.uint64))
        if reads is None:
            conn.settle()
            snapshots.append((conn.busy_until, conn.arrive.copy()))
        else:
            for t in np.sort(reads.uniform(0.0, conn.busy_until, 3)):
                conn.delivered_until(t)
        start += size
    conn.settle()
    return conn, snapshots, announced


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_arrivals_do_not_depend_on_how_frames_are_committed(seed):
    cfg = apply_overrides(calm(), LOSSY)
    rng = np.random.default_rng([seed, 99])
    depart = np.cumsum(np.where(rng.random(3000) < 0.1, 1e-4, rng.exponential(0.02, 3000)))
    physics = Replayed(cfg, depart, seed)
    assert (physics.fates.sent != depart).sum() > 300  # enough recovery to exercise every path
    whole, _, _ = committed(physics, depart, [len(depart)])
    batches = rng.integers(1, 200, len(depart))
    batched, snapshots, _ = committed(Replayed(cfg, depart, seed), depart, batches)
    one, _, announced = committed(
        Replayed(cfg, depart, seed), depart, [1] * len(depart), per_frame=True
    )
    read = np.random.default_rng(seed)
    lazily, _, _ = committed(Replayed(cfg, depart, seed), depart, batches, reads=read)
    for other in (batched, one, lazily):
        np.testing.assert_array_equal(other.arrive, whole.arrive)
    assert set(whole.arrive.tolist()) <= set(announced)  # every move was announced
    # an arrival that was still to change lay after the newest departure when it was seen
    for newest, arrive in snapshots:
        final = whole.arrive[: len(arrive)]
        moved = arrive != final
        assert (arrive[moved] > newest).all() and (final[moved] > newest).all()


def test_fast_recovery_shortens_delays_under_random_loss():
    cfg = apply_overrides(calm(), LOSSY)
    depart = np.arange(1, 2501) * 0.02
    textbook = apply_overrides(cfg, ["link.fast_recovery=false"])
    fast, _, _ = committed(Replayed(cfg, depart, 5), depart, [len(depart)])
    slow, _, _ = committed(Replayed(textbook, depart, 5), depart, [len(depart)])
    np.testing.assert_array_equal(slow.raw, Replayed(textbook, depart, 5).fates.arrival)
    # a lost fast retransmission waits an RTO from itself (nothing new leaves in fast recovery to
    # SACK it), so about p^2 of the frames (1 %), and those behind them, arrive later than on
    # their own textbook timers
    assert (fast.arrive <= slow.arrive).mean() > 0.97
    assert (fast.arrive - depart).mean() < 0.5 * (slow.arrive - depart).mean()


def test_a_lone_client_message_is_probed_then_backs_off():
    # Linux's tail loss probe for a segment alone in flight: R, then the RTO re-armed: 2R, 4R, ...
    # (measured on loopback: 0.206, 0.414, 0.830, 1.66 s); the textbook timer: R, 3R, 7R, ...
    cfg = calm(disconnects__schedule="5:half_open:0.5")
    np.testing.assert_allclose(
        probed_offsets(cfg.link, RTO)[:6], [0, RTO, 2 * RTO, 4 * RTO, 8 * RTO, 16 * RTO]
    )
    np.testing.assert_allclose(
        retransmission_offsets(cfg.link, RTO)[:5], [0, RTO, 3 * RTO, 7 * RTO, 15 * RTO]
    )
    for fast, through in ((True, 4 * RTO), (False, 3 * RTO)):
        c = apply_overrides(cfg, {"link.fast_recovery": str(fast).lower()})
        physics = LinkPhysics(c, Weather(c, np.random.default_rng(0)), np.random.default_rng(0))
        # a ping at 5.1: attempts at 5.3 and 5.5 (probed) or 5.3 (textbook) fall in the hole
        assert physics.transmit(5.1) == pytest.approx(5.1 + through + PROP)
