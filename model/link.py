"""The link: WebSocket over TCP, reliable and in order while the connection is up.

Frames are computed in bulk with numpy instead of one SimPy event per frame per hop: whatever is
deterministic between two protocol events (departure queue, loss, retransmission, jitter,
head-of-line blocking) is a closed-form recurrence over arrays. `FrameByFrameConnection` (the
per-frame reference engine) computes the same mechanisms one frame at a time with scalar code.

Assumptions (README "Model assumptions"):
- Serialisation at `bandwidth`, FIFO: a frame departs at max(ready, previous departure) + size/bw.
- Each transmission of a frame is lost per the condition's loss model; `LinkPhysics` resends a
  lost frame after the RTO, doubling each time up to `rto_max` (RFC 6298), so loss is delay, never
  a missing frame. RTO = clamp(SRTT + 4 RTTVAR) from the condition's latency mean and spread,
  floored at `rto_min`. Retransmissions take no extra bandwidth.
- With `fast_recovery` (the default) a `Connection` repairs its lost frames as Linux does, from
  the frames sent after them: SACK/RACK fast retransmit and go-back-N after an RTO
  (`model/recovery.py` states those assumptions); false keeps every frame on its own RTO timer.
- Gilbert-Elliott loss steps its chain once per frame's first transmission, in order, so a burst
  hits consecutive frames; retransmissions (an RTO later, after many other packets) see the
  long-run loss rate. The chain state carries over between send batches.
- A transmission sent while the network is unreachable (an outage of any kind) is lost too: TCP
  keeps retransmitting and the first attempt after the outage gets through (a silent outage
  becomes a stall). Past `tcp_retries` a frame never arrives (the heartbeat notices first).
- Latency = propagation + jitter, per frame; TCP delivers in order, so a frame arrives no earlier
  than the frame before it (head-of-line blocking).
- Client->server messages (acks, pings, requests) see Bernoulli loss at the condition's long-run
  loss rate and are delivered in order too; they are small and take no bandwidth. The client
  sends too rarely for a later segment to be SACKed, so a lost one is a lone segment in flight:
  with `fast_recovery` Linux's tail loss probe resends it one RTO later and re-arms the timer
  (attempts R, 2R, 4R, ...: `timers.probed_offsets`, measured on loopback), else R, 3R, 7R, ....
- Each frame sent down a connection (a replay on a later connection included) is corrupted with
  probability `corruption_rate`, independently, in a way TCP's checksum misses (a faulty middlebox,
  a memory error): it arrives on time with damaged bytes, which the frame checksum exposes to the
  client (`corrupt`). TCP retransmissions of the frame are one send: the draw is per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from model.config import Loss, LossModel, Scenario
from model.network import Weather
from model.timers import condition_tables


@dataclass(frozen=True)
class Transmissions:
    """A batch of first transmissions, each lost one resent on its own RTO timer (`LinkPhysics`);
    `Connection` repairs the lost ones with fast recovery (`model.recovery`)."""

    depart: np.ndarray
    sent: np.ndarray  # when the attempt that gets through leaves (= depart: the first did)
    jitter: np.ndarray
    failures: np.ndarray  # attempts lost at random before one may get through
    cond: np.ndarray  # index of the condition at departure
    arrival: np.ndarray  # sent + propagation + jitter

    def rows(self, part: slice) -> Transmissions:
        return Transmissions(
            self.depart[part],
            self.sent[part],
            self.jitter[part],
            self.failures[part],
            self.cond[part],
            self.arrival[part],
        )


class LinkPhysics:
    """Per-stream wire behaviour: loss, retransmission, jitter and outages, drawn from one
    generator."""

    def __init__(
        self,
        cfg: Scenario,
        weather: Weather,
        rng: np.random.Generator,
        corruption_rng: np.random.Generator | None = None,
        ack_rng=None,
    ):
        self.cfg, self.weather, self.rng = cfg, weather, rng
        # its own stream: switching corruption on or off keeps every other draw
        self.corruption_rng = corruption_rng if corruption_rng is not None else rng
        # lost ACKs of timeout retransmissions (`recovery`): a callable making the generator on
        # first use (most streams lose no frame), its own stream as corruption's
        self.ack_rng = ack_rng if ack_rng is not None else (lambda: rng)
        tables = condition_tables(cfg.link, cfg.network)
        self.conditions, self.offsets, self.offset_lists, self.message_offsets = tables[:4]
        self.rtt, self.loss_rates = tables[4:]
        self.half_rtt = np.array(self.rtt) / 2  # an ACK's mean trip back, by condition
        self.ge_bad = False  # Gilbert-Elliott chain state, carried between batches
        self._message_draws: dict[int, object] = {}  # condition -> iterator of (failures, jitter)

    # ---- one-way delivery of a batch of transmissions
    def arrivals(self, depart: np.ndarray, downstream: bool = True) -> np.ndarray:
        """Arrival time of each transmission first sent at `depart` (before in-order delivery),
        each lost transmission resent on its own RTO timer."""
        return self.transmissions(depart, downstream).arrival

    def transmissions(
        self, depart: np.ndarray, downstream: bool = True, until: float = math.inf
    ) -> Transmissions:
        """The fate of each transmission first sent at `depart` (increasing), each on its own RTO
        timer. Those leaving after `until` have their draws made but their send time left
        undecided (NaN) until `complete`."""
        if len(self.weather.cond_list) == 1:  # a steady network (the common case): one condition
            c = self.weather.cond_list[0]
            sent, jitter, failures = self._attempts_in(c, depart, downstream, until)
            return Transmissions(
                depart,
                sent,
                jitter,
                failures,
                np.full(len(depart), c),
                sent + self.cfg.link.propagation + jitter,
            )
        cond = self.weather.condition_at(depart)
        sent, jitter = np.empty(len(depart)), np.empty(len(depart))
        failures = np.empty(len(depart), dtype=np.int64)
        for c in np.unique(cond):
            mask = cond == c
            sent[mask], jitter[mask], failures[mask] = self._attempts_in(
                int(c), depart[mask], downstream, until
            )
        return Transmissions(
            depart, sent, jitter, failures, cond, sent + self.cfg.link.propagation + jitter
        )

    def complete(self, tx: Transmissions) -> Transmissions:
        """`tx` with the send times `transmissions` left undecided decided."""
        open_ = np.isnan(tx.sent)
        if not open_.any():
            return tx
        sent = tx.sent.copy()
        for c in np.unique(tx.cond[open_]):
            rows = open_ & (tx.cond == c)
            sent[rows] = self._first_reachable_attempt(
                tx.depart[rows], tx.failures[rows], self.offsets[int(c)]
            )
        arrival = sent + self.cfg.link.propagation + tx.jitter
        return Transmissions(tx.depart, sent, tx.jitter, tx.failures, tx.cond, arrival)

    def _attempts_in(self, c: int, depart: np.ndarray, downstream: bool, until: float):
        """(send time of the attempt that gets through, jitter, random failures) of transmissions
        that all leave in condition c (the send times of those leaving after `until`: NaN)."""
        failures = self._failures(self.conditions[c].loss, len(depart), downstream)
        k = len(depart) if until == math.inf else int(depart.searchsorted(until, "right"))
        sent = self._first_reachable_attempt(depart[:k], failures[:k], self.offsets[c])
        if k < len(depart):
            sent = np.concatenate([sent, np.full(len(depart) - k, np.nan)])
        return sent, self.conditions[c].jitter.sample(self.rng, len(depart)), failures

    def _first_reachable_attempt(self, depart, failures, offsets) -> np.ndarray:
        """Send time of the first attempt that is neither lost nor inside an outage."""
        k = np.minimum(failures, len(offsets) - 1)
        sent = depart + offsets[k]
        blocked = self.weather.unreachable(sent) & np.isfinite(sent)
        while blocked.any():  # retransmit until an attempt falls after the outage
            clear = self.weather.reachable_from(sent[blocked])
            k[blocked] = np.searchsorted(offsets, clear - depart[blocked], side="left")
            k = np.minimum(k, len(offsets) - 1)
            sent = depart + offsets[k]
            blocked = self.weather.unreachable(sent) & np.isfinite(sent)
        return sent

    def _failures(self, loss: Loss, n: int, downstream: bool) -> np.ndarray:
        """Lost attempts before each transmission's first success."""
        if loss.model == LossModel.NONE or n == 0:
            return np.zeros(n, dtype=np.int64)
        if loss.model == LossModel.BERNOULLI or not downstream:
            p = loss.rate()
            return self.rng.geometric(1.0 - p, n) - 1 if p > 0 else np.zeros(n, dtype=np.int64)
        return self._gilbert_elliott_failures(loss, n)

    def _gilbert_elliott_failures(self, loss: Loss, n: int) -> np.ndarray:
        """First attempts step the chain in frame order (a burst hits consecutive frames); a
        retransmission leaves an RTO later, after many other packets have stepped the chain, so it
        sees the long-run loss rate."""
        rng = self.rng
        # one step from the carried state
        bad = rng.random() < (1 - loss.r if self.ge_bad else loss.p)
        states = self.gilbert_elliott_states(loss, bad, n)
        self.ge_bad = bool(states[-1])
        first_lost = rng.random(n) < np.where(states, loss.loss_bad, loss.loss_good)
        failures = first_lost.astype(np.int64)
        if first_lost.any():
            failures[first_lost] += rng.geometric(1.0 - loss.rate(), int(first_lost.sum())) - 1
        return failures

    def gilbert_elliott_states(self, loss: Loss, bad: bool, slots: int) -> np.ndarray:
        """`slots` chain states starting in `bad`, built from geometric run lengths."""
        runs, total, state = [], 0, bad
        while total < slots:
            k = max(8, int(slots * min(1.0, loss.p + loss.r)))
            good_len = self.rng.geometric(loss.p, k) if loss.p > 0 else np.full(k, slots + 1)
            bad_len = self.rng.geometric(loss.r, k)
            pair = np.column_stack([bad_len, good_len] if state else [good_len, bad_len]).ravel()
            runs.append(pair)
            total += int(pair.sum())
        lengths = np.concatenate(runs)
        pattern = np.empty(len(lengths), dtype=bool)  # runs alternate, from `state`
        pattern[0::2], pattern[1::2] = state, not state
        return np.repeat(pattern, lengths)[:slots]

    def transmit(self, t: float, downstream: bool = False, lone: bool = True) -> float:
        """Arrival time of one transmission sent at t: the scalar form of `arrivals`. The fast
        engine uses it for small messages (acks, pings, requests, pongs: Bernoulli loss at the
        long-run rate; `upstream.ClientMessages` repeats it for messages sent in a row); the
        per-frame engine for every frame too (`downstream`)."""
        sent, jitter, _, _ = self.transmission(t, downstream, lone)
        return sent + self.cfg.link.propagation + jitter

    def transmission(
        self, t: float, downstream: bool = False, lone: bool = True
    ) -> tuple[float, float, int, int]:
        """One transmission sent at t, on its own RTO timer: (send time of the attempt that gets
        through, jitter, attempts lost at random, condition index)."""
        c = self.weather.condition_of(t)
        loss = self.conditions[c].loss
        offsets = self.message_offsets[c] if lone and not downstream else self.offset_lists[c]
        if downstream and loss.model == LossModel.GILBERT_ELLIOTT:
            failures = self._gilbert_elliott_step(loss)
            jitter = float(self.conditions[c].jitter.sample(self.rng))
        else:
            failures, jitter = self.message_draw(c)
        return self.first_sent(t, failures, offsets), jitter, failures, c

    def first_sent(self, t: float, failures: int, offsets: list[float]) -> float:
        """Send time of the attempt that gets through of a transmission sent at t: the first after
        `failures` lost at random, at `offsets` from t, not inside an outage."""
        k = min(failures, len(offsets) - 1)
        sent = t + offsets[k]
        if self.weather.unreachable_at(sent) and math.isfinite(sent):
            retries = np.asarray(offsets)  # rare: an attempt due inside an outage
            sent = float(self._first_reachable_attempt(np.array([t]), np.array([k]), retries)[0])
        return sent

    def message_draw(self, c: int) -> tuple[int, float]:
        """(attempts lost at the long-run loss rate, jitter) of the next transmission sent one at a
        time in condition c: drawn `MESSAGE_DRAWS` at a time (a numpy call per draw costs more than
        the draw), each condition's in the order its transmissions are sent."""
        draws = self._message_draws.get(c)
        pair = next(draws, None) if draws is not None else None
        if pair is None:
            p, n = self.loss_rates[c], MESSAGE_DRAWS
            failures = (self.rng.geometric(1.0 - p, n) - 1).tolist() if p > 0 else [0] * n
            jitter = self.conditions[c].jitter.sample(self.rng, n).tolist()
            self._message_draws[c] = draws = zip(failures, jitter)
            pair = next(draws)
        return pair

    def _gilbert_elliott_step(self, loss: Loss) -> int:
        """One frame's first transmission steps the chain; its retransmissions see the long-run
        rate."""
        self.ge_bad = bool(self.rng.random() < (1 - loss.r if self.ge_bad else loss.p))
        if self.rng.random() >= (loss.loss_bad if self.ge_bad else loss.loss_good):
            return 0
        # this loss plus the retransmissions lost after it
        return int(self.rng.geometric(1.0 - loss.rate()))

    def rtt_at(self, t: float) -> float:
        return self.rtt[self.weather.condition_of(t)]


MESSAGE_DRAWS = 32  # draws made at once for transmissions sent one at a time (about a stream's)
