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
from model.recovery import LossRecovery
from model.timers import condition_tables
from model.upstream import ClientMessages


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
        pattern = np.resize(np.array([state, not state]), len(lengths))
        return np.repeat(pattern, lengths)[:slots]

    def transmit(self, t: float, downstream: bool = False, lone: bool = True) -> float:
        """Arrival time of one transmission sent at t: the scalar form of `arrivals`. The fast
        engine uses it for small messages (acks, pings, requests, pongs: Bernoulli loss at the
        long-run rate); the per-frame engine for every frame too (`downstream`)."""
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
            failures, jitter = self._next_message_draw(c)
        k = min(failures, len(offsets) - 1)
        sent = t + offsets[k]
        if self.weather.unreachable_at(sent) and math.isfinite(sent):
            retries = np.asarray(offsets)  # rare: an attempt due inside an outage
            sent = float(self._first_reachable_attempt(np.array([t]), np.array([k]), retries)[0])
        return sent, jitter, failures, c

    def _next_message_draw(self, c: int) -> tuple[int, float]:
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
CORRUPTED = np.uint64(0x9E3779B97F4A7C15)
# `raw`: the arrival before in-order delivery; `corrupt`: any non-zero mask, so a corrupted
# frame's digest never matches
FRAME_COLUMNS = {
    "seq": np.int64,
    "size": np.int64,
    "digest": np.uint64,
    "depart": float,
    "arrive": float,
    "corrupt": bool,
    "raw": float,
}
NO_ROWS = np.empty(0, dtype=np.int64)


class Connection:
    """One WebSocket connection: the frames sent down it, in bulk arrays, and when it ended.

    `cut` is the time after which nothing more reaches the client: the teardown (close/reset) or the
    moment the client gave up on it (heartbeat timeout).

    Lost frames are repaired lazily (fast recovery), when the connection is first read past their
    departure (`delivered_until`, `downstream_control`) or before the next commit: the result of
    repairing at the commit, and frames behind a cut are never repaired. `arrive` and `raw` are
    final for the frames that left by the latest time read; `settle()` makes them all final.

    Frames leaving after the weather's next teardown (`hold_from`: the first close or reset after
    the connection opened) are held back, their fates drawn but not committed: the teardown cuts a
    connection being read, and nothing leaving after its cut reaches anyone. A connection that
    outlives it (its client was not reading then) commits them when the teardown passes
    (`outlived`), or when anyone looks past it: the same rows, repairs and draws as committing them
    at once (commits in departure order give the same repairs however they are batched), without
    the work for the frames a cut throws away.
    """

    EAGER_REPAIR = False  # repair at every commit (whoever announces moved arrivals needs them)
    PER_FRAME_READS = False  # the client takes each frame in at its arrival (`on_frame`)
    HOLDS_BACK = True  # False: commit every frame at once (tests compare the two)

    def __init__(self, physics: LinkPhysics, opened: float, bandwidth: float):
        self.physics, self.opened, self.bandwidth = physics, opened, bandwidth
        self.cut = math.inf
        self.busy_until = opened  # when the last committed frame finished serialising
        self.serial_until = opened  # ... and the last frame sent, committed or held back
        self.last_seq = -1  # the last frame sent
        self.hold_from = physics.weather.next_teardown(opened) if self.HOLDS_BACK else math.inf
        self._held: list[tuple] = []  # sends (or their tails) leaving after `hold_from`
        self.last_arrival = opened
        self.up = ClientMessages(physics, opened)
        # the frames sent, one column each (`corrupt`: the bytes no longer match the checksum); the
        # public arrays are views of the first `frames` rows of storage that doubles when full, so a
        # connection carrying n frames costs O(n) however many sends it takes
        self.frames = 0
        self._storage = {name: np.empty(16, dtype=dtype) for name, dtype in FRAME_COLUMNS.items()}
        self._expose()
        self.any_corrupt = False  # lets readers of a clean connection skip the array
        # every frame so far is its predecessor's seq + 1 (the server's own sends)
        self.contiguous = True
        self.on_corrupt = None  # called with the arrival time of each batch's first corrupted frame
        self.recovery = LossRecovery(physics) if physics.cfg.link.fast_recovery else None
        self._repaired_to = math.inf  # lost frames that left by then are repaired (since a commit)
        self._stale_from = math.inf  # arrivals from this row on may wait for in-order delivery

    @property
    def alive(self) -> bool:
        return math.isinf(self.cut)

    def send(
        self, ready: np.ndarray, seq: np.ndarray, size: np.ndarray, digest: np.ndarray
    ) -> None:
        """Queue frames that become ready at `ready` (non-decreasing); compute departures and
        arrivals."""
        if len(seq) == 0:
            return
        serial = size / self.bandwidth
        total = np.cumsum(serial)
        # d_i = max(ready_i, d_{i-1}) + s_i  ==  S_i + max(busy, max_{j<=i} (ready_j - S_{j-1}))
        depart = total + np.maximum(
            self.serial_until, np.maximum.accumulate(ready - (total - serial))
        )
        self._sent(seq)
        self.serial_until = float(depart[-1])
        # every fate is drawn now, as if all were committed: holding back changes no draw
        until = -math.inf if self._held else self.hold_from
        tx = self.physics.transmissions(depart, until=until)
        corrupt = self.draw_corruption(seq)
        ack_lost = self.recovery.ack_losses(tx) if self.recovery is not None else None
        k = int(depart.searchsorted(until, "right"))
        for part in (slice(0, k), slice(k, None)):
            if part.start == part.stop or (part.start == len(seq)):
                continue
            columns = (seq[part], size[part], digest[part], tx.rows(part), corrupt[part])
            batch = (*columns, ack_lost[part] if ack_lost is not None else None)
            if part.start == 0:
                self._commit(*batch)
            else:
                self._held.append(batch)

    def _sent(self, seq: np.ndarray) -> None:
        """Note frames sent down the connection (committed or held back)."""
        if self.contiguous:
            follows = self.last_seq < 0 or seq[0] == self.last_seq + 1
            self.contiguous = bool(
                follows and seq[-1] - seq[0] == len(seq) - 1 and (np.diff(seq) == 1).all()
            )
        self.last_seq = int(seq[-1])

    def outlived(self, t: float) -> None:
        """The connection is still up at t (a teardown there spared it): commit what it held
        back."""
        if self._held and t >= self.hold_from:
            held, self._held, self.hold_from = self._held, [], math.inf
            for seq, size, digest, tx, corrupt, ack_lost in held:
                self._commit(seq, size, digest, self.physics.complete(tx), corrupt, ack_lost)

    def _looked_at(self, t: float) -> None:
        """Someone reads the connection as of t: past `hold_from`, the held frames count."""
        if self._held and t > self.hold_from:
            self.outlived(t)

    def _commit(
        self, seq, size, digest, tx: Transmissions, corrupt=None, ack_lost=None
    ) -> np.ndarray:
        """Append frames whose transmissions are drawn, delivered in order; repair the lost ones
        (`fast_recovery`; lazily, unless `EAGER_REPAIR` or a corrupted frame must be reported);
        damage some (`corruption_rate`; `corrupt`, `ack_lost`: drawn already, if given). Returns
        the rows whose arrival moved (repaired eagerly)."""
        self.settle()  # the earlier commits' repair, before these frames queue behind them
        # in order: head-of-line blocking
        arrive = np.maximum.accumulate(np.maximum(tx.arrival, self.last_arrival))
        self.busy_until, self.last_arrival = float(tx.depart[-1]), float(arrive[-1])
        self.serial_until = max(self.serial_until, self.busy_until)
        corrupt = self.draw_corruption(seq) if corrupt is None else corrupt
        if corrupt.any():
            self.any_corrupt = True
            digest = np.where(corrupt, digest ^ CORRUPTED, digest)  # what the damaged bytes hash to
        columns = {
            "seq": seq,
            "size": size,
            "digest": digest,
            "depart": tx.depart,
            "arrive": arrive,
            "corrupt": corrupt,
            "raw": tx.arrival,
        }
        first = self.frames
        self._store(columns)
        moved = NO_ROWS
        if self.recovery is not None:
            self.recovery.add(first, tx, ack_lost)
            self._repaired_to = -math.inf
            if self.EAGER_REPAIR or self.any_corrupt:
                moved = self.settle(report=True)
        if self.on_corrupt is not None:
            self._report_corruption(first, moved)
        return moved

    def _store(self, columns: dict) -> None:
        lo, hi = self.frames, self.frames + len(columns["seq"])
        if hi > len(self._storage["seq"]):
            capacity = max(hi, 2 * len(self._storage["seq"]))
            for name, old in self._storage.items():
                self._storage[name] = np.empty(capacity, dtype=old.dtype)
                self._storage[name][:lo] = old[:lo]
        for name, values in columns.items():
            self._storage[name][lo:hi] = values
        self.frames = hi
        self._expose()

    def settle(self, t: float = math.inf, report: bool = False) -> np.ndarray:
        """Fast recovery: repair the lost frames that left by t and are not repaired since the last
        commit (`LossRecovery.repair`), and deliver those frames in order again from the first
        that moved. Returns the rows whose arrival moved if `report`."""
        self._looked_at(t)
        if self._repaired_to >= t:
            return NO_ROWS
        self._repaired_to = t
        changed = self.recovery.repair(self.busy_until, t) if self.recovery.busy else []
        if changed:
            propagation = self.physics.cfg.link.propagation
            for lost in changed:
                self.raw[lost.row] = lost.sent + propagation + lost.jitter
            self._stale_from = min(self._stale_from, changed[0].row)
        return self._redeliver(t, report)

    def _redeliver(self, t: float, report: bool) -> np.ndarray:
        """In-order delivery again from the first stale arrival, for the frames that left by t
        (those after t stay stale, all arriving after t). Returns the rows that moved if
        `report`."""
        start = self._stale_from
        end = self.frames if math.isinf(t) else int(self.depart.searchsorted(t, "right"))
        if start >= end:
            return NO_ROWS
        before = self.arrive[start - 1] if start else self.opened
        old = self.arrive[start:end].copy() if report else None
        self.arrive[start:end] = np.maximum.accumulate(np.maximum(self.raw[start:end], before))
        self._stale_from = end if end < self.frames else math.inf
        if end == self.frames:
            self.last_arrival = float(self.arrive[-1])
        return start + np.flatnonzero(self.arrive[start:end] != old) if report else NO_ROWS

    def _report_corruption(self, first: int, moved: np.ndarray) -> None:
        """Tell `on_corrupt` when this commit's first corrupted frame arrives, and again when an
        earlier corrupted frame's arrival moved."""
        again = moved[moved < first]
        again = again[self.corrupt[again]]
        if len(again):
            self.on_corrupt(float(self.arrive[again[0]]))
        new = self.corrupt[first:]
        if new.any():
            self.on_corrupt(float(self.arrive[first + int(np.argmax(new))]))

    def _expose(self) -> None:
        n, st = self.frames, self._storage
        self.seq, self.size, self.digest = st["seq"][:n], st["size"][:n], st["digest"][:n]
        self.depart, self.arrive = st["depart"][:n], st["arrive"][:n]
        self.corrupt, self.raw = st["corrupt"][:n], st["raw"][:n]  # raw: before in-order delivery

    def draw_corruption(self, seq: np.ndarray) -> np.ndarray:
        """Which of these frames arrive corrupted (a subclass can damage chosen frames)."""
        rate = self.physics.cfg.link.corruption_rate
        if rate == 0:  # no draw: runs without corruption keep their random numbers
            return np.zeros(len(seq), dtype=bool)
        return self.physics.corruption_rng.random(len(seq)) < rate

    def upstream(self, t: float) -> float:
        """Arrival at the server of a small client message sent at t (inf once the connection is
        cut), in order behind the messages sent before it."""
        return math.inf if t >= self.cut else self.up.send(t)

    def upstream_all(self, times: list[float]) -> list[float]:
        """`upstream` of messages sent at `times` (increasing)."""
        live = times if math.isinf(self.cut) else [t for t in times if t < self.cut]
        arrivals = self.up.send_all(live) if live else []
        return arrivals + [math.inf] * (len(times) - len(live))

    def message_arrival(self, t: float) -> float:
        """As `upstream`, without recording the message (the heartbeat's ping, looked at when its
        pong is due)."""
        return math.inf if t >= self.cut else self.up.arrival(t)

    def downstream_control(self, t: float) -> float:
        """Arrival at the client of a small server message sent at t, queued behind the frames
        (and, lost, repaired by the frames sent after it: `fast_recovery`)."""
        fate = self.physics.transmission(t)
        arrival = self._control_arrival(t, *fate)
        if self._held and arrival > self.hold_from:  # the frames held back may count after all
            self.outlived(self.hold_from)
            arrival = self._control_arrival(t, *fate)
        return arrival

    def _control_arrival(self, t: float, sent, jitter, failures, cond) -> float:
        self.settle(t)
        behind = (
            self.arrive[np.searchsorted(self.depart, t, side="right") - 1]
            if len(self.depart) and self.depart[0] <= t
            else self.opened
        )
        if sent != t and self.recovery is not None:
            behind_rows = int(np.searchsorted(self.depart, t, side="right"))
            sent = self.recovery.message_sent(behind_rows, t, failures, cond)
        return max(sent + self.physics.cfg.link.propagation + jitter, behind)

    def delivered_until(self, t: float) -> int:
        """Number of committed frames that have reached the client by time t (a frame leaving
        after t arrives after t, so only those that left by then need repairing)."""
        t = min(t, self.cut)
        self._looked_at(t)
        if self.recovery is None:
            return int(self.arrive.searchsorted(t, "right"))
        self.settle(t)  # the frames that left by t are final; those after arrive after t
        return int(self.arrive[: self.depart.searchsorted(t, "right")].searchsorted(t, "right"))

    def sent_by(self, t: float) -> int:
        """Number of committed frames that had left the server by time t."""
        self._looked_at(t)
        return int(self.depart.searchsorted(t, "right"))


class FrameByFrameConnection(Connection):
    """The per-frame reference engine's connection: each frame is serialised, transmitted and
    delivered on its own (scalar code), and announced as `on_frame(connection, arrival time)` so
    the client can handle it then, as one event."""

    EAGER_REPAIR = True  # every move is announced to the client
    PER_FRAME_READS = True

    def __init__(self, physics: LinkPhysics, opened: float, bandwidth: float):
        super().__init__(physics, opened, bandwidth)
        self.on_frame = None  # set by whoever reads the connection (`engines.Engine.attach`)

    def send(
        self, ready: np.ndarray, seq: np.ndarray, size: np.ndarray, digest: np.ndarray
    ) -> None:
        propagation = self.physics.cfg.link.propagation
        self._sent(seq)
        for i in range(len(seq)):
            depart = max(float(ready[i]), self.serial_until) + float(size[i]) / self.bandwidth
            sent, jitter, failures, cond = self.physics.transmission(depart, downstream=True)
            tx = Transmissions(
                np.array([depart]),
                np.array([sent]),
                np.array([jitter]),
                np.array([failures]),
                np.array([cond]),
                np.array([sent + propagation + jitter]),
            )
            one = slice(i, i + 1)
            moved = self._commit(seq[one], size[one], digest[one], tx)
            for row in moved[moved < self.frames - 1].tolist():  # tell the client again
                self.on_frame(self, float(self.arrive[row]))
            self.on_frame(self, self.last_arrival)


def recovered_arrivals(physics: LinkPhysics, depart: np.ndarray) -> np.ndarray:
    """Arrival time of frames leaving at `depart` (increasing) down one fresh connection, before
    in-order delivery, each lost one repaired as a connection does (`link.fast_recovery`): the
    public view of the repair for validation (`LinkPhysics.arrivals`: every frame on its own
    RTO timer). Zero-byte frames on an infinitely fast link leave exactly at `depart`."""
    conn = Connection(physics, float(depart[0]), math.inf)
    frames = np.arange(len(depart))
    conn.send(depart, frames, np.zeros(len(depart), dtype=np.int64), frames.astype(np.uint64))
    conn.outlived(math.inf)
    conn.settle()
    return conn.raw.copy()
