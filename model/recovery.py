"""TCP loss recovery on one connection, as Linux does it: SACK/RACK fast retransmit, and one
retransmission timer per connection (go-back-N after an RTO).

`LinkPhysics` resends each lost transmission on its own RTO timer (R, 3R, 7R, ... after it left,
the RFC 6298 textbook model, which `link.fast_recovery=false` keeps). Linux recovers sooner, and
how much sooner depends on what the connection sends *after* the loss, so a `Connection` repairs
its lost frames as later frames are committed (`LossRecovery.repair`).

Assumptions (README "Model assumptions"):
- Fast retransmit (SACK + RACK, RFC 8985). The receiver acknowledges each segment on arrival, with
  a SACK block for out-of-order data; the ACK reaches the sender a mean half RTT later (the
  condition's mean RTT: 2 x (propagation + mean jitter)). A transmission sent at t is declared lost
  when a segment sent after t is SACKed and RACK's reordering window has passed: at
  max(SACK arrival, t + RTT_j + RTT/4) with RTT_j that segment's own round trip and RTT/4 the
  window (min_RTT/4; the mean RTT stands in for the minimum). It is resent at once (congestion
  control is not modelled) and is lost again per the loss model or an outage. A lost resend is
  repaired by the timer (R after it, then 3R, ...), not by a later SACK: in fast recovery an
  application-limited sender sends no new data until the resend is acknowledged (Linux's PRR with
  the one delivery that revealed the loss), so nothing later can be SACKed. Only first
  transmissions of later frames count as SACKed segments; an ACK sent during an outage is lost
  (the next delivered frame's ACK repeats its SACK block); other ACK loss is ignored.
- The RTO still fires if no such SACK comes before it (a tail loss, or an outage longer than the
  RTO): timer R after a fast retransmission, doubling on each timeout up to `rto_max`; only
  timeouts count towards `tcp_retries`. A loss in the open state first meets Linux's tail loss
  probe, one RTO after it (PTO = 2 SRTT + rto_min capped by the RTO: R on any path whose RTO is
  rto_min), which re-arms the timer: attempts R, 2R, 4R, ... after the loss. The probe is no
  timeout: new data keeps leaving until the RTO, and its SACK still repairs the loss (measured on
  loopback with a black-hole: probe 0.23 s after the first lost frame, RTO 0.42 s, then 0.90, 1.79,
  3.58 s; README "Fidelity"). After a timeout the sender is in loss
  recovery (cwnd 1, no new data), so that frame is resent by its timer alone until it gets through.
- One timer per connection. When a retransmission sent by a timeout gets through, every younger
  frame still outstanding leaves right behind it (Linux marks them all lost on the RTO and resends
  them as the head's ACK opens the window; small frames share the head's segment). Slow start's
  rounds (one RTT per doubling beyond an MSS of data) and F-RTO's probe round are ignored:
  negligible on loopback, a few RTTs for large frames on a long path. A younger frame's own timer
  is kept where it fires sooner: in-order delivery holds it behind the head anyway.
- Small downstream control messages (pongs, resume answers) are repaired like frames, from the
  frames sent after them and from a go-back; they are no SACK source themselves. Upstream messages
  (acks, pings, requests) have no later segment to SACK them (the client sends rarely): each is
  a lone segment, probed one RTO after it, then timed out at 2R, 4R, ... (`timers.probed_offsets`).
- The ACK of a timeout retransmission (no probe) is lost with the long-run loss rate (drawn once
  per lost frame, from a generator of its own): the sender, with nothing else in flight, learns of
  the delivery only from its next, backed-off timeout, and sends nothing new until then. That
  attempt counts as lost; the frame itself reached the client one timeout sooner, which the model
  ignores (one frame; every frame behind it waits either way). Measured on loopback under 5 % loss:
  the second of the two ways a heartbeat times out (README "Fidelity"). Other ACK loss is ignored:
  a later ACK or SACK covers it.
- Every transmission takes the RTO and RTT of the condition in force when it first left.

Commit order. Frames are committed in departure order and a commit only adds frames leaving after
the last one committed (`busy_until`), whose SACKs come later still (jitter is non-negative).
Every attempt up to `busy_until` is therefore final: later commits can change only attempts after
the newest departure, so an arrival anyone has already observed (at or before `now`, which is
before every departure still to come) never changes. Both engines compute the same attempts,
whether frames come in batches or one by one; a tentative arrival (after the newest departure)
may still move, either way, and is announced again.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

# what sent a retransmission
TIMEOUT = 0  # the frame's RTO timer
FAST = 1  # a SACK of a segment sent after the lost attempt (RACK)
GO_BACK = 2  # an older frame's timeout retransmission got through (one timer per connection)


@dataclass(slots=True)
class Lost:
    """A transmission whose first attempt was lost, and how it is recovered (so far)."""

    row: int  # its row in the connection's frames; a control message: the frames sent before it
    depart: float
    failures: int  # attempts lost at random before one may get through (an outage loses more)
    jitter: float
    cond: int
    sent: float  # when the attempt that gets through leaves (inf: none does)
    ack_lost: bool = False  # the ACK of its (first) timeout retransmission to get through is lost
    trigger: int = TIMEOUT  # what sent the attempt that gets through
    decided_by: float = math.inf  # every attempt deciding `sent` happens by then
    # the last attempt known to be final: (time, attempts so far, timer start, timeouts since it,
    # fast retransmit possible, ACK loss still to come)
    state: tuple | None = None

    def __post_init__(self):
        if self.state is None:
            self.state = (self.depart, 0, self.depart, 0, True, self.ack_lost)


class LossRecovery:
    """One connection's SACKs, the lost frames whose recovery later frames may still change, and
    the frames recovered by a timeout (their retransmission leads a go-back)."""

    # Linux's one timer per connection; False only to measure what the go-back adds (validation)
    go_back = True

    def __init__(self, physics):
        self.physics, self.weather = physics, physics.weather
        self.offsets = physics.offset_lists  # retransmission offsets by condition
        # a loss in the open state: the tail loss probe, then the RTO (R, 2R, 4R, ...)
        self.probed = physics.message_offsets
        self.pending: list[Lost] = []
        # lost frames not yet followed (column blocks, in row order after `pending`): a frame
        # becomes a `Lost` only once a repair reaches its departure, so the frames committed to a
        # connection that is abandoned before they leave cost no object each
        self.waiting: list[list[list]] = []  # blocks of columns (`Lost`'s first seven fields)
        self._waiting_at = 0  # the first block's next frame
        self._pass_next, self._pass_heads = 0, []  # the current pass of `repair`: next, heads
        self.heads: list[tuple[int, float]] = []  # (row, retransmission time) of settled heads
        # frames whose first transmission got through and was SACKed: departure, SACK heard
        self.heard_depart: list[float] = []
        self.heard_sack: list[float] = []

    def ack_losses(self, tx) -> np.ndarray:
        """Whether the ACK of each frame's first timeout retransmission is lost (False for a frame
        whose first transmission got through), drawn as `add` draws it."""
        # = sent != depart, known before the send times are (`LinkPhysics.transmissions`)
        lost = ((tx.failures > 0) | self.weather.unreachable(tx.depart)).nonzero()[0]
        out = np.zeros(len(tx.depart), dtype=bool)
        if len(lost):
            rates = np.take(self.physics.loss_rates, tx.cond[lost])
            out[lost] = self.physics.ack_rng().random(len(lost)) < rates
        return out

    def add(self, first_row: int, tx, ack_lost: np.ndarray | None = None) -> None:
        """Take in the frames of a commit (`link.Transmissions`, rows from `first_row`): their
        SACKs, and those whose first transmission was lost (`ack_lost`: `ack_losses` of its rows,
        drawn already; None: draw it). Starts a new pass of `repair` over every pending frame."""
        self._pass_next, self._pass_heads = 0, list(self.heads)
        if len(tx.depart) == 1:  # the per-frame engine: scalar code
            depart, sent, arrival = float(tx.depart[0]), float(tx.sent[0]), float(tx.arrival[0])
            if sent == depart:
                if not self.weather.unreachable_at(arrival):
                    self.heard_depart.append(depart)
                    self.heard_sack.append(arrival + self.physics.rtt[int(tx.cond[0])] / 2)
                return
            lost = np.zeros(1, dtype=np.int64)
        else:
            got_through = tx.sent == tx.depart
            heard = got_through & self._acks_get_back(tx.arrival)
            steady = len(self.weather.cond_list) == 1
            half_rtt = self.physics.half_rtt[tx.cond[heard] if not steady else tx.cond[0]]
            self.heard_depart += tx.depart[heard].tolist()
            self.heard_sack += (tx.arrival[heard] + half_rtt).tolist()
            lost = (~got_through).nonzero()[0]
        if not len(lost):
            return
        cond = tx.cond[lost]
        ack_lost = (self.ack_losses(tx) if ack_lost is None else ack_lost)[lost]
        columns = (
            lost + first_row,
            tx.depart[lost],
            tx.failures[lost],
            tx.jitter[lost],
            cond,
            tx.sent[lost],
            ack_lost,
        )
        self.waiting.append([c.tolist() for c in columns])

    @property
    def busy(self) -> bool:
        """Whether any lost frame is still to be repaired."""
        return bool(self.pending or self.waiting)

    def _follow(self, upto: float) -> None:
        """Make `Lost` records of the waiting frames that left by `upto` (departures never
        decrease with the row)."""
        while self.waiting:
            block, a = self.waiting[0], self._waiting_at
            k = bisect.bisect_right(block[1], upto, a)
            if k > a:
                self.pending += [Lost(*fate) for fate in zip(*(c[a:k] for c in block))]
            if k < len(block[1]):
                self._waiting_at = k
                return
            self.waiting.pop(0)
            self._waiting_at = 0

    def _waiting_heads(self) -> list[tuple[int, float]]:
        """(row, time) of the waiting frames whose first timeout retransmission, as drawn, gets
        through (not followed yet: their trigger is the timer)."""
        heads, a = [], self._waiting_at
        for block in self.waiting:
            heads += [(r, t) for r, t in zip(block[0][a:], block[5][a:]) if math.isfinite(t)]
            a = 0
        return heads

    def _acks_get_back(self, sent: np.ndarray) -> np.ndarray:
        """Whether an ACK sent at each time leaves while the network is up."""
        starts, ends = self.weather.down_start, self.weather.down_end
        if not len(starts):
            return np.ones(len(sent), dtype=bool)
        last = starts.searchsorted(sent, "right") - 1  # the last outage begun by then
        return (last < 0) | (sent >= ends[last])

    def repair(self, final_by: float, upto: float = math.inf) -> list[Lost]:
        """Recompute the recovery of the pending frames that left by `upto` and are not yet
        recomputed since the last commit (a pass over the pending frames may take several calls:
        `Connection.settle`), attempts up to `final_by` (the newest departure) being final; return
        those whose retransmission time changed (in row order). When the pass is complete, settle
        the ones that cannot change any more."""
        self._follow(upto)
        changed, pending, heads, i = [], self.pending, self._pass_heads, self._pass_next
        while i < len(pending) and pending[i].depart <= upto:
            lost = pending[i]  # in row order: a go-back follows an older frame's timeout
            before = lost.sent
            self._recover(lost, final_by, heads)
            if lost.sent != before:
                changed.append(lost)
            if lost.trigger == TIMEOUT and math.isfinite(lost.sent):
                heads.append((lost.row, lost.sent))
            i += 1
        self._pass_next = i
        if i == len(pending) and not self.waiting:
            still = []
            for lost in pending:
                if lost.decided_by > final_by:
                    still.append(lost)
                elif lost.trigger == TIMEOUT and math.isfinite(lost.sent):
                    self.heads.append((lost.row, lost.sent))
            self.pending, self._pass_next = still, len(still)  # nothing left to do in this pass
        return changed

    def message_sent(self, row: int, t: float, failures: int, cond: int) -> float:
        """When the attempt that gets through leaves, for a control message whose first
        transmission at t, behind `row` frames, was lost."""
        heads = self.heads + [
            (lost.row, lost.sent)
            for lost in self.pending
            if lost.trigger == TIMEOUT and math.isfinite(lost.sent)
        ]
        heads += self._waiting_heads()
        lost = Lost(row, t, failures, 0.0, cond, math.inf)
        self._recover(lost, -math.inf, heads)
        return lost.sent

    def _recover(self, lost: Lost, final_by: float, heads: list) -> None:
        """Follow `lost`'s attempts from its last final one until one gets through; attempts up to
        `final_by` are final and become its new starting point. `heads`: (row, time) of the
        timeout retransmissions that get through."""
        t, attempts, timer_start, timeouts, fast, ack_lost = lost.state
        rtt = self.physics.rtt[lost.cond]
        # the times of the frames it may go back behind, sorted: the next one after t is a search
        leads = sorted([sent for row, sent in heads if row < lost.row]) if self.go_back else []
        while True:
            open_state = timer_start == lost.depart  # no timeout or fast retransmit yet
            offsets = (self.probed if open_state else self.offsets)[lost.cond]
            at, trigger = timer_start + offsets[timeouts + 1], TIMEOUT
            if fast:
                sack = self._first_sack_after(t, at, rtt)
                if sack < at:
                    at, trigger = sack, FAST
            k = bisect.bisect_right(leads, t)
            if k < len(leads) and leads[k] < at:
                at, trigger = leads[k], GO_BACK
            if at == math.inf:  # past tcp_retries: it never gets through
                lost.sent, lost.trigger, lost.decided_by = math.inf, TIMEOUT, t
                return
            attempts += 1
            if attempts >= lost.failures and not self.weather.unreachable_at(at):
                timeout = trigger == TIMEOUT and not (open_state and timeouts == 0)  # no probe
                if not (timeout and ack_lost):
                    lost.sent, lost.trigger, lost.decided_by = at, trigger, at
                    return
                ack_lost = False  # its ACK is lost: the sender times out once more
            t = at
            if trigger == TIMEOUT:  # the tail loss probe leaves the sender open to SACKs
                timeouts, fast = timeouts + 1, open_state and timeouts == 0
            else:  # in fast recovery no new data leaves, so nothing SACKs a lost retransmission
                timer_start, timeouts, fast = at, 0, trigger == GO_BACK
            if t <= final_by:
                lost.state = (t, attempts, timer_start, timeouts, fast, ack_lost)

    def _first_sack_after(self, t: float, timeout: float, rtt: float) -> float:
        """When the sender learns that an attempt sent at t was lost from the SACK of a frame sent
        after it and before `timeout` (RACK: the SACK's arrival, but no sooner than t + that
        frame's round trip + RTT/4); inf if none. A SACK is heard after its frame left, so the
        search stops at the first frame leaving after the best time found."""
        departs, sacks = self.heard_depart, self.heard_sack
        best, window = math.inf, t + rtt / 4
        for k in range(bisect.bisect_right(departs, t), len(departs)):
            depart = departs[k]
            if depart >= timeout or depart >= best:
                break
            heard = sacks[k] + (window - depart if window > depart else 0.0)
            if heard < best:
                best = heard
        return best
