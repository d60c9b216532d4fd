"""A connection: the frames sent down one WebSocket connection, in bulk arrays, their in-order
delivery and loss recovery, and the small messages beside them (the assumptions are the link's:
`model/link.py`).

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

from __future__ import annotations

import math

import numpy as np

from model.link import LinkPhysics, Transmissions
from model.recovery import LossRecovery
from model.upstream import ClientMessages

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


class FrameColumns:
    """The frames sent down a connection, one column each (`corrupt`: the bytes no longer match
    the checksum; `raw`: the arrival before in-order delivery). The public arrays are views of the
    first `frames` rows of storage that doubles when full, so a connection carrying n frames costs
    O(n) however many sends it takes."""

    def __init__(self):
        self.frames = 0
        self._storage = {name: np.empty(16, dtype=dtype) for name, dtype in FRAME_COLUMNS.items()}
        self._expose()

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

    def _expose(self) -> None:
        n, st = self.frames, self._storage
        self.seq, self.size, self.digest = st["seq"][:n], st["size"][:n], st["digest"][:n]
        self.depart, self.arrive = st["depart"][:n], st["arrive"][:n]
        self.corrupt, self.raw = st["corrupt"][:n], st["raw"][:n]  # raw: before in-order delivery


class ControlMessages:
    """The small messages a connection carries besides its frames: the client's up it (acks,
    pings, requests: `upstream.ClientMessages`) and the server's down it, queued behind the frames
    (pongs, resume answers)."""

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
            self.arrive[self.depart.searchsorted(t, "right") - 1]
            if len(self.depart) and self.depart[0] <= t
            else self.opened
        )
        if sent != t and self.recovery is not None:
            behind_rows = int(self.depart.searchsorted(t, "right"))
            sent = self.recovery.message_sent(behind_rows, t, failures, cond)
        return max(sent + self.physics.cfg.link.propagation + jitter, behind)


class Connection(FrameColumns, ControlMessages):
    """One WebSocket connection: the frames sent down it, in bulk arrays, and when it ended.

    `cut` is the time after which nothing more reaches the client: the teardown (close/reset) or the
    moment the client gave up on it (heartbeat timeout); the module says how its frames are
    committed, repaired and held back."""

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
        FrameColumns.__init__(self)
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
        arrivals (of those leaving by `hold_from`: see the module)."""
        if len(seq) == 0:
            return
        serial = size / self.bandwidth
        total = serial.cumsum()
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
        k = int(depart.searchsorted(until, "right"))  # committed now; the rest held back

        def rows(part: slice) -> tuple:
            lost = None if ack_lost is None else ack_lost[part]
            return seq[part], size[part], digest[part], tx.rows(part), corrupt[part], lost

        if k:
            self._commit(*rows(slice(0, k)))
        if k < len(seq):
            self._held.append(rows(slice(k, None)))

    def _sent(self, seq: np.ndarray) -> None:
        """Note frames sent down the connection (committed or held back)."""
        if self.contiguous:
            follows = self.last_seq < 0 or seq[0] == self.last_seq + 1
            self.contiguous = bool(
                follows and seq[-1] - seq[0] == len(seq) - 1 and (seq[1:] - seq[:-1] == 1).all()
            )
        self.last_seq = int(seq[-1])

    def outlived(self, t: float) -> None:
        """The connection is still up at t (a teardown there spared it): commit what it held
        back."""
        if self._held and t >= self.hold_from:
            held, self._held, self.hold_from = self._held, [], math.inf
            for seq, size, digest, tx, corrupt, ack_lost in held:
                self._commit(seq, size, digest, self.physics.complete(tx), corrupt, ack_lost)

    @property
    def held_back(self) -> int:
        """Frames sent but held back for the next teardown."""
        return sum(len(batch[0]) for batch in self._held)

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

    def draw_corruption(self, seq: np.ndarray) -> np.ndarray:
        """Which of these frames arrive corrupted (a subclass can damage chosen frames)."""
        rate = self.physics.cfg.link.corruption_rate
        if rate == 0:  # no draw: runs without corruption keep their random numbers
            return np.zeros(len(seq), dtype=bool)
        return self.physics.corruption_rng.random(len(seq)) < rate

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
