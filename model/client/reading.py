"""Reading: moving the frames that arrived on a connection into the application buffer.

At each protocol moment the client takes in every frame that has arrived since the last one (the
link knows every frame's arrival time exactly), checking as it goes:
- checksums first: nothing from a corrupted frame on is taken; the connection is abandoned and the
  frame fetched again (a `corruption` break);
- a frame whose seq is already held is a duplicate: dropped and counted;
- a new frame must continue the sequence: a gap is a `protocol_error`, and nothing after it is
  taken.
New frames also advance the recovery bookkeeping of the disconnects (first new frame after a
reconnect, catching up with what the server had generated at each break).
"""

from __future__ import annotations

import math

import numpy as np

from model.client.progress import Disconnect, StateLog, StreamHealth
from model.protocol import CONTINUE, Break, Broke, Continue, Failed
from model.records import Cause, DetectedBy, ErrorKind, State

NO_TIMES = np.empty(0)


class Reader:
    """The application side of one stream: its buffer's health, and how far the current
    connection has been read."""

    def __init__(self, env, frames_total: int, states: StateLog, disconnects: list[Disconnect]):
        self.env, self.n = env, frames_total
        self.states, self.disconnects = states, disconnects
        self.health = StreamHealth()
        self.read = 0  # frames of the current connection already taken in
        self.taken = NO_TIMES  # arrival times of the new frames the last `take_in` took in

    @property
    def done(self) -> bool:
        return self.health.have >= self.n

    def restart(self) -> None:
        """Discard the partial response (a restart regenerates it from the start)."""
        self.health.have, self.health.digests, self.health.seqs = 0, [], []

    def take_in(self, conn, now: float) -> Continue | Failed | Broke:
        """Move frames of `conn` that arrived by `now` into the application buffer. Failed: a
        sequence gap (`protocol_error`); Broke: a frame whose checksum failed."""
        k = conn.delivered_until(now)
        self.taken = NO_TIMES
        if k <= self.read:
            return CONTINUE
        h, lo = self.health, self.read
        self.read = k
        # checksums first: nothing from a corrupted frame on is taken (the connection is abandoned)
        bad = conn.corrupt[lo:k] if conn.any_corrupt else None
        ok = lo + int(np.argmax(bad)) if bad is not None and bad.any() else k
        fresh, gap = self.sort_out(conn, lo, ok)
        outcome: Continue | Failed | Broke = CONTINUE
        if gap:
            h.gaps += 1
            outcome = Failed(ErrorKind.PROTOCOL_ERROR)
        elif ok < k and h.have + len(conn.seq[fresh]) < self.n:  # once complete, nothing is read
            h.corrupt_detected += 1
            at = min(float(conn.arrive[ok]), self.env.now)  # never after detection
            outcome = Broke(Break(Cause.CORRUPTION, at, DetectedBy.CHECKSUM))
        new = conn.seq[fresh]
        if not len(new):
            return outcome
        self.taken = times = conn.arrive[fresh]
        self.note_progress(float(times[0]), times)
        # copies: a view would pin the connection's storage
        h.digests.append(conn.digest[fresh].copy())
        h.seqs.append(new.copy())
        h.have += len(new)
        if self.done:
            h.completed_at = float(times[-1])
        return outcome

    def sort_out(self, conn, lo: int, hi: int) -> tuple[slice | np.ndarray, bool]:
        """Which of frames [lo, hi) of `conn` are new (a slice or index array) and whether a
        sequence gap stops the reading. A frame is a duplicate if its seq is already held; new
        frames must continue the sequence, and nothing after a gap is taken."""
        h = self.health
        if lo >= hi:
            return slice(lo, lo), False
        first = int(conn.seq[lo])
        if conn.contiguous and first <= h.have:  # in order, duplicates only at the start: no search
            start = lo + min(h.have - first, hi - lo)
            h.duplicates_received += start - lo
            return slice(start, hi), False
        seq = conn.seq[lo:hi]
        held = np.maximum.accumulate(np.concatenate([[h.have - 1], seq[:-1]]))
        duplicate = seq <= held
        gap = ~duplicate & (seq != held + 1)
        stop = int(np.argmax(gap)) if gap.any() else len(seq)
        h.duplicates_received += int(duplicate[:stop].sum())
        return lo + np.flatnonzero(~duplicate[:stop]), stop < len(seq)

    def note_progress(self, first_new: float, times: np.ndarray) -> None:
        """Recovery bookkeeping for new frames arriving at `times` (the buffer holds `have`
        frames before them)."""
        h = self.health
        last = self.disconnects[-1] if self.disconnects else None
        if last is not None and math.isnan(last.resumed_at) and not math.isnan(last.connected_at):
            last.resumed_at = first_new
        for rec in self.disconnects:
            need = rec.generated_at_break - 1  # recovered once every frame that existed is held
            if math.isnan(rec.recovered_at) and h.have <= need < h.have + len(times):
                rec.recovered_at = float(times[need - h.have])
        if self.states.current == State.RESUMING:
            self.states.set(State.STREAMING, first_new)
