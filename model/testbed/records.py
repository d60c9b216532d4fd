"""The testbed's records: the model's stream and disconnect rows from what the real run left.

The recorder is omniscient as the model's is: the client's logs (frames, requests, states, breaks)
and the server's (generation times, acks, buffer, resume requests) are joined after the stream, on
one clock (times from the stream's start), into the model's own records (`model.records`), so the
tables come from the one schema; what the testbed cannot observe is NaN:
- The server of a stream is observed until its client ends; a failed stream's server until its
  buffer can grow no more (generation done or blocked) or the horizon. The retention timer that
  frees a failed stream's buffer (`retention` after the break, 120 s by default) is not waited
  for: `buffer_freed_at` is then the time it is armed for (if before the horizon), and
  `buffer_bytes_at_horizon` follows from it (0, or the bytes held when observation ended).
- `corrupt_detected` counts frames whose CRC failed; nothing corrupts frames here, so it is 0
  unless something is broken (the stream then fails with `protocol_error`).
"""

from __future__ import annotations

import bisect
import math

import numpy as np

from model.config import Scenario
from model.content import Frames, verify
from model.records import StreamRecord
from model.testbed.client import StreamClient


def fill_disconnects(client: StreamClient, server: dict) -> None:
    """Complete each disconnect record from the server's log: frames generated at the break, when
    the client again held all of them (recovery), bytes replayed and missing."""
    incs = server["incarnations"]
    created = [i["created"] for i in incs]
    accepted = {r["attempt"]: r for r in server["requests"] if not r["error"]}
    for rec in client.disconnects:
        at = bisect.bisect_right(created, rec.detected_at) - 1  # incarnation held at detection
        gen = incs[at]["gen_times"] if at >= 0 else []
        rec.generated_at_break = bisect.bisect_right(gen, rec.time)
        rec.recovered_at = recovered_at(client, rec.detected_at, rec.generated_at_break)
        answer = accepted.get(
            rec.index + 1
        )  # request 0 opened the stream; request k followed break k-1
        if answer is not None:
            rec.bytes_replayed, rec.bytes_missing = answer["replayed"], answer["missing"]
        rec.outcome = (
            "recovered" if math.isfinite(rec.recovered_at) else (client.error or client.outcome)
        )


def recovered_at(client: StreamClient, detected_at: float, needed: int) -> float:
    """First moment after detection at which the client held `needed` frames: a request sent
    holding them already, or the frame that completed them (as `model.client.note_progress`)."""
    at_request = next(
        (t for t, have, valid in client.requests if valid and t >= detected_at and have >= needed),
        math.inf,
    )
    at_frame = next(
        (t for t, have in client.progress if t >= detected_at and have == needed), math.inf
    )
    first = min(at_request, at_frame)
    return first if math.isfinite(first) else math.nan


def outages_while_streaming(client: StreamClient, kinds: tuple[str, ...]) -> int:
    """Weather events of `kinds` that struck while the client was reading a connection."""
    spans = [s for s in client.streaming if len(s) == 2]
    return sum(
        any(a <= ev.time < b for a, b in spans) for ev in client.weather.events if ev.kind in kinds
    )


def stream_record(
    cfg: Scenario, stream: int, client: StreamClient, server: dict, frames: Frames
) -> StreamRecord:
    end = client.ended_at if math.isfinite(client.ended_at) else cfg.horizon
    seqs = np.asarray(client.seqs, dtype=np.int64)
    integrity = verify(frames, seqs, np.asarray(client.digests, dtype=np.uint64))
    integrity["integrity_ok"] = bool(client.outcome == "completed" and integrity["integrity_ok"])
    cum = np.concatenate([[0], np.cumsum(frames.size)])
    disconnects = tuple(r.record(stream, client.outcome) for r in client.disconnects)
    peak = max((i["peak"] for i in server["incarnations"]), default=0)
    latest = server["incarnations"][-1] if server["incarnations"] else None
    freed_at = latest["freed_at"] if latest else math.nan
    released_by = (
        freed_at
        if math.isfinite(freed_at)
        else (math.inf if server["attached_at_end"] else server["release_at"])
    )
    if math.isnan(freed_at) and released_by <= cfg.horizon:
        freed_at = released_by  # the server's retention timer, armed, not waited for
    at_horizon = 0 if latest is None or released_by <= cfg.horizon else latest["held_at_end"]
    repeated = 0 if (np.diff(seqs) > 0).all() else int(len(seqs) - len(np.unique(seqs)))
    return StreamRecord(
        content_kind=cfg.content.kind,
        stream=stream,
        session=stream,
        start_time=0.0,
        outcome=client.outcome,
        error=client.error,
        end_time=end,
        completion_time=client.completed_at,
        frames_total=client.n,
        frames_delivered=client.have,
        bytes_delivered=int(cum[client.have]),
        integrity=integrity,
        duplicates_received=client.duplicates,
        duplicates_delivered=repeated,
        corrupt_detected=client.corrupt,
        gaps=client.gaps,
        outages_while_streaming=outages_while_streaming(client, ("close", "reset", "half_open")),
        stalls_absorbed=outages_while_streaming(client, ("half_open",))
        - sum(r.cause == "half_open" for r in disconnects),
        buffer_peak_bytes=peak,
        buffer_bytes_at_horizon=at_horizon,
        buffer_freed_at=freed_at,
        buffer_released_by=released_by if latest is not None else 0.0,
        session_buffer_peak_bytes=peak,
        log=tuple((t, str(state)) for t, state in client.log),
        disconnect_log=disconnects,
    )
