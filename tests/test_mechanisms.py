"""Each mechanism on a deterministic schedule: no loss, no jitter, 20 ms one way, 50 frames/s.

Worked timeline shared by these tests: the first SYN leaves at t = 0 and the handshake takes two
round trips (4 legs x 20 ms), so the stream is connected at 0.08 s; the request reaches the server
at 0.10 s; frames are generated every 20 ms from then on; SYNs of an attempt leave at 0, 1, 3 s
after it starts (RFC 6298 initial SYN timeout 1 s, doubling).
"""

import numpy as np
import pytest

from conftest import calm, faulty_sender, rows
from model.simulation import run_stream


def run(cfg, stream=0, seed=0, **seams):
    r = run_stream(cfg, seed, stream, **seams)
    return (r, *rows(r))


def test_undisturbed_stream_completes_on_the_generation_schedule():
    cfg = calm()
    r, row, discs = run(cfg)
    first_size = r.server.content[0][0].size[0]
    # last frame generated at 0.10 + 500 * 0.02, sent, arrives 20 ms later (+ serialisation)
    last = r.server.content[0][0].size[-1]
    assert row["completion_time"] == pytest.approx(
        0.10 + 500 * 0.02 + last / 1.25e6 + 0.02, abs=1e-9
    )
    assert row["outcome"] == "completed" and row["integrity_ok"] and not discs
    assert r.client.log[:2] == [(0, "connecting"), (pytest.approx(0.08), "streaming")]
    assert first_size > 32


def test_clean_close_with_one_second_outage_gives_exact_reconnect_and_resume_times():
    cfg = calm(disconnects__schedule="5:close:1")
    r, row, (d,) = run(cfg)
    size = r.server.content[0][0].size
    assert d["detected_at"] == 5.0 and d["detection_delay"] == 0.0
    # attempt at 5: SYN at 5 lost (outage [5, 6)), SYN at 6 gets through; +4 legs
    assert d["connected_at"] == pytest.approx(6.08) and d["reconnect_time"] == pytest.approx(1.08)
    # resume request arrives 6.10; the first missing frame is serialised then travels 20 ms
    resumed = r.server.streams[0].conn
    assert d["resume_time"] == pytest.approx(0.02 + size[resumed.seq[0]] / 1.25e6 + 0.02, abs=1e-9)
    assert d["attempts"] == 1 and d["backoff_wait"] == 0.0 and d["outcome"] == "recovered"
    assert d["bytes_replayed"] == d["bytes_missing"] > 0
    assert row["outcome"] == "completed" and row["integrity_ok"]
    states = [s for _, s in r.client.log]
    assert states == [
        "connecting",
        "streaming",
        "disconnected",
        "connecting",
        "resuming",
        "streaming",
        "completed",
    ]


def test_reset_is_noticed_when_the_client_next_sends():
    # frame k arrives at 0.12 + 0.02 k: by 5.01 s 246 have arrived, an even number, so the client's
    # TCP owes no ACK; connected at 0.08 s, the client acks every second: the ack at 5.08 meets
    # the reset, whose RST is back one RTT (40 ms) later
    _, _, (d,) = run(calm(disconnects__schedule="5.01:reset:1"))
    assert d["detected_at"] == pytest.approx(5.12) and d["detected_by"] == "reset"
    assert d["connected_at"] == pytest.approx(6.20)  # SYNs at 5.12 (lost), 6.12; +4 legs
    # by 5.00 s 245 have: the last (at 4.98, plus its 40 us on the wire) awaits the 40 ms delayed
    # ACK, which meets the reset
    _, _, (d,) = run(calm(disconnects__schedule="5:reset:1"))
    assert d["detected_at"] == pytest.approx(4.98 + 0.04 + 0.04, abs=1e-4)
    assert d["detected_by"] == "reset"
    assert d["connected_at"] == pytest.approx(6.14, abs=1e-4)  # SYNs at 5.06 (lost), 6.06; +4 legs


def test_short_silent_outage_is_absorbed_as_a_stall():
    cfg = calm(disconnects__schedule="5:half_open:3")
    r, row, discs = run(cfg)
    assert not discs and row["stalls_absorbed"] == 1 and row["outcome"] == "completed"
    # a frame sent inside the outage is retransmitted at 1 s, 3 s ... after it: the first attempt
    # after t = 8 gets through, so nothing sent in [5, 8) arrives before 8.02
    conn = r.server.streams[0].conn  # the one connection, kept throughout
    inside = (conn.depart >= 5.0) & (conn.depart < 8.0)
    assert inside.any() and (conn.arrive[inside] >= 8.02 - 1e-9).all()
    assert row["integrity_ok"]


def test_long_silent_outage_is_detected_by_the_heartbeat():
    _, row, (d,) = run(calm(disconnects__schedule="5:half_open:60"))
    # ping at 0.08 + 20 s goes unanswered; the check 20 s later gives up on the connection, and
    # the client learns it is closed when its close_timeout (10 s) passes: the outage lasts to 65 s
    assert d["cause"] == "half_open" and d["detected_by"] == "heartbeat"
    assert d["detected_at"] == pytest.approx(40.08 + 10.0)
    assert d["connected_at"] >= 65.0 and row["outcome"] == "completed" and row["integrity_ok"]


def test_backoff_gives_up_after_max_attempts_with_a_typed_error():
    cfg = calm(
        disconnects__schedule="5:close:100",
        client__backoff__jitter="none",
        client__backoff__max_attempts=3,
    )
    r, row, (d,) = run(cfg)
    # attempts at 5, 9.5, 14.5 (waits 0, 0.5, 1.0), each failing 4 s later
    assert d["attempts"] == 3 and d["backoff_wait"] == pytest.approx(1.5)
    assert row["outcome"] == "failed" and row["error"] == "network_timeout"
    assert row["end_time"] == pytest.approx(18.5) and d["outcome"] == "network_timeout"
    assert row["time_backing_off"] == pytest.approx(1.5)
    assert row["time_connecting"] == pytest.approx(0.08 + 12.0)
    # the server keeps the buffer for the retention time after the break, then frees it
    assert (
        row["buffer_freed_at"] == pytest.approx(5.0 + 120.0) and row["buffer_bytes_at_horizon"] == 0
    )


def test_backoff_deadline_stops_retrying():
    cfg = calm(
        disconnects__schedule="5:close:100",
        client__backoff__jitter="none",
        client__backoff__max_attempts=100,
        client__backoff__deadline=10,
    )
    _, row, (d,) = run(cfg)
    # the 4th attempt would start at 18.5 + 2 = 20.5 > 5 + 10
    assert d["attempts"] == 3 and row["end_time"] == pytest.approx(18.5)


def test_expired_token_fails_the_reconnect_with_auth_failure():
    _, row, (d,) = run(calm(disconnects__schedule="5:close:1", client__auth_failure_prob=1.0))
    assert row["error"] == "auth_failure" and d["outcome"] == "auth_failure"
    assert row["end_time"] == pytest.approx(6.08)


def test_resume_refused_when_the_position_was_evicted():
    # evict mode, a 2,000-byte buffer, and a 10 s outage: about 500 frames' worth are generated
    # while away, so the client's position has been evicted
    cfg = calm(
        disconnects__schedule="2:close:10", server__when_full="evict", server__buffer_bytes=2000
    )
    _, row, (d,) = run(cfg)
    assert row["error"] == "resume_window_exceeded" and d["outcome"] == "resume_window_exceeded"


def test_resume_refused_after_retention_expired():
    cfg = calm(disconnects__schedule="2:close:30", server__retention=10)
    _, row, _ = run(cfg)
    assert row["error"] == "resume_window_exceeded"


def test_restart_resends_everything_and_still_ends_intact():
    cfg = calm(disconnects__schedule="5:close:1", client__strategy="restart")
    r, row, (d,) = run(cfg)
    assert d["bytes_replayed"] > d["bytes_missing"] > 0
    assert (
        row["outcome"] == "completed" and row["integrity_ok"] and row["duplicates_delivered"] == 0
    )
    # regeneration starts at the restart request (6.10), so completion is 6.10 + 10 s + last hop
    assert row["completion_time"] > 16.1


def test_replay_from_last_ack_sends_duplicates_the_client_drops():
    cfg = calm(disconnects__schedule="5.5:close:1", server__replay_from="ack")
    _, row, (d,) = run(cfg)
    assert row["duplicates_received"] > 0 and row["duplicates_delivered"] == 0
    assert d["bytes_replayed"] > d["bytes_missing"]
    assert row["integrity_ok"]


def test_blocking_buffer_never_exceeds_capacity_plus_one_frame():
    cfg = calm(server__buffer_bytes=3000, disconnects__schedule="3:close:5")
    r, row, _ = run(cfg)
    assert 0 < row["buffer_peak_bytes"] <= 3000 + r.server.content[0][0].size.max()
    assert row["outcome"] == "completed" and row["integrity_ok"]


def test_a_sequence_gap_is_a_protocol_error():
    cfg = calm()
    r, row, _ = run(cfg, components=faulty_sender(cfg, upto=7, resume_at=8))  # frame 7 skipped
    assert row["error"] == "protocol_error" and row["gaps"] == 1
    assert row["frames_delivered"] == 7 and not row["integrity_ok"]


def test_loss_driven_stall_can_trip_the_heartbeat_without_any_outage():
    # heavy loss, RTO floor 1 s and a 2 s pong deadline: a few consecutive losses outlast it (in
    # about one stream in twenty, so forty streams)
    cfg = calm(
        network__unstable__loss__model="bernoulli",
        network__unstable__loss__p=0.3,
        client__ping_interval=1,
        client__ping_timeout=2,
    )
    causes = [d["cause"] for i in range(40) for d in run(cfg, stream=i)[2]]
    assert causes and set(causes) == {"loss"}


def test_closing_handshake_ends_when_the_server_close_gets_through():
    # ping at 4.08 (inside the black-hole [4, 4.5)); its tail loss probe at 4.28 and RTO at 4.48
    # are lost too, the next at 4.88 reaches the server, whose close follows its data (the data's
    # probe at 4.2 and RTO at 4.4 were lost, its next timeout at 4.8 gets through)
    cfg = calm(
        disconnects__schedule="4:half_open:0.5",
        client__ping_interval=1,
        client__ping_timeout=0.5,
        link__rto_min=0.2,
    )
    _, _, (d,) = run(cfg)
    assert d["detected_by"] == "heartbeat" and 4.88 < d["detected_at"] < 4.58 + 0.5
    _, _, (d,) = run(long_closing("4:half_open:30"))
    assert d["detected_at"] == pytest.approx(4.58 + 2.0)  # the server never answers in time


def long_closing(schedule: str):
    """Pings every second, 0.5 s late is dead, 2 s for the closing handshake; `schedule`."""
    return calm(
        disconnects__schedule=schedule,
        client__ping_interval=1,
        client__ping_timeout=0.5,
        client__close_timeout=2.0,
    )


def test_a_reset_during_the_closing_handshake_is_met_by_the_next_ping_retransmission():
    # as above, the client gives up at 4.58 and waits for the server's close; a reset at 5.0
    # meets the ping's next retransmission (4.08 + 1.6 = 5.68), whose RST is back one RTT later
    _, _, (d, *_) = run(long_closing("4:half_open:30;5:reset:1"))
    assert d["cause"] == "half_open" and d["detected_by"] == "heartbeat"
    assert d["detected_at"] == pytest.approx(5.68 + 0.04)
    # a reset after the wait has run its course changes nothing
    _, _, (d, *_) = run(long_closing("4:half_open:30;7:reset:1"))
    assert d["detected_at"] == pytest.approx(4.58 + 2.0)


def test_adaptive_heartbeat_stretches_on_slow_pongs_and_relaxes_on_prompt_ones():
    from model.client.heartbeat import Heartbeat

    me = Heartbeat(calm(client__ping_timeout=3, client__heartbeat_stretch_max=4), None, None)
    assert me.adapt_tolerance(3.0, 2.0) == 6.0  # over half the tolerance: double
    assert me.adapt_tolerance(12.0, 7.0) == 12.0  # capped at 4 x 3 s
    assert me.adapt_tolerance(12.0, 0.1) == 6.0  # prompt: halve back
    assert me.adapt_tolerance(3.0, 0.1) == 3.0  # never below ping_timeout
    fixed = Heartbeat(calm(client__ping_timeout=3), None, None)
    assert fixed.adapt_tolerance(3.0, 2.9) == 3.0  # stretch 1: a fixed heartbeat


def test_the_buffer_peak_counts_growth_after_the_servers_last_event():
    # the close at 2 s is the server's last event; it keeps generating into the kept buffer
    # until its last frame at 10.1 s, and nothing frees it before the horizon
    cfg = calm(
        disconnects__schedule="2:close:1000",
        server__retention=float("inf"),
        server__buffer_bytes=10**9,
        horizon=100.0,
    )
    _, row, _ = run(cfg)
    # the frames not acked by 2 s, all of them generated by the horizon: the buffer's maximum
    assert row["buffer_bytes_at_horizon"] > 10_000
    assert row["buffer_peak_bytes"] == row["buffer_bytes_at_horizon"]
    assert row["session_buffer_peak_bytes"] == row["buffer_bytes_at_horizon"]


def test_evicting_buffer_smaller_than_a_frame_still_keeps_the_newest_frame():
    cfg = calm(
        server__when_full="evict", server__buffer_bytes=10, disconnects__schedule="2:close:0.5"
    )
    r, row, (d,) = run(cfg)
    trace = np.array(r.server.trace(0).bytes)
    assert trace.max() <= 10 + r.server.content[0][0].size.max() and trace.max() > 10


@pytest.mark.parametrize(
    "extra",
    [
        ["server.buffer_bytes=500"],
        ["server.buffer_bytes=2000", "server.when_full=evict"],
        ["client.strategy=restart", "server.buffer_bytes=3000"],
        ["session.streams=4", "server.buffer_bytes=1500"],
    ],
)
def test_buffer_traces_summed_after_the_run_equal_the_buffer_seen_live(extra):
    """The trace is rebuilt after the run from the streams' schedules; live, at every server event,
    the buffer (read before and after the event's changes) must be exactly what the rebuild says."""
    from model.config import apply_overrides
    from model.scenarios import get_scenario
    from model.server import Server
    from model.simulation import Components, run_session

    live: dict = {}

    class LiveTracingServer(Server):
        def note_event(self, sid, at=None):
            if sid in self.streams:
                now = self.env.now if at is None else at  # a queued ack: its arrival
                live.setdefault(sid, []).append((now, self.streams[sid].buffer_bytes(now)))
            super().note_event(sid, at)

    cfg = apply_overrides(
        get_scenario("text-interruption"),
        ["content.frames=300", "disconnects.rate_scale=6", *extra],
    )
    checked = 0
    for session in range(6):
        live.clear()
        live_tracing = Components(server=LiveTracingServer)
        server = run_session(cfg, seed=5, session=session, components=live_tracing).server
        for sid, seen in live.items():
            trace = server.trace(sid)
            rebuilt = dict(zip(zip(trace.times, [0, 1] * (len(trace.times) // 2)), trace.bytes))
            for i, (t, b) in enumerate(seen):
                first = i == 0 or seen[i - 1][0] != t
                last = i == len(seen) - 1 or seen[i + 1][0] != t
                if first:
                    assert rebuilt[(t, 0)] == b
                if last:
                    assert rebuilt[(t, 1)] == b
                checked += 1
    assert checked > 50
