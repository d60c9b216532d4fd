"""The real-stack testbed: websockets over loopback TCP, faults by nftables (needs root and nft)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from model.config import ConfigError, Scenario, apply_overrides
from model.simulation import simulate
from model.testbed import check_available, nft, run_testbed

REASON = check_available()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"testbed unavailable: {REASON}")
ROOT = Path(__file__).resolve().parents[1]

SHORT = {  # 250 frames at 50/s, a steady lossless network, one reset, one close, one half-open
    "content.frames": 250,
    "network.initial": "stable",
    "network.stable.loss.model": "none",
    "network.stable.jitter.kind": "constant",
    "network.stable.jitter.scale": 0.0,
    "disconnects.rate_scale": 0.0,
    # the reset lasts 0.3 s: a server loop once held up ~0.1 s at start-up applied all four
    # streams' resets that late, and a 0.1 s reset then had no packet left to reject
    "disconnects.schedule": "0.5:reset:0.3;2.0:close:0.2;3.0:half_open:0.8",
    "client.ping_interval": 0.3,
    "client.ping_timeout": 0.3,
    "client.connect_timeout": 0.5,
    "client.backoff.base": 0.1,
    "client.backoff.cap": 1.0,
    "horizon": 20.0,
}


def short(**extra) -> Scenario:
    return apply_overrides(Scenario(), {**SHORT, **extra})


@pytest.fixture(scope="module")
def short_run():
    return run_testbed(short(), 4, seed=3, progress=False, close_timeout=1.0)


def children_running(parent: int) -> list[int]:
    """Pids of server processes of the testbed whose parent is `parent`."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            cmdline = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if b"model.testbed.server_process" in cmdline and f"\nPPid:\t{parent}\n" in text:
            found.append(int(status.parent.name))
    return found


def test_tables_have_the_models_columns_and_every_stream(short_run):
    model = simulate(short(), 2, 3)
    assert list(short_run.streams.columns) == list(model.streams.columns)
    assert list(short_run.disconnects.columns) == list(model.disconnects.columns)
    assert sorted(short_run.streams.stream) == [0, 1, 2, 3]
    done = short_run.streams[short_run.streams.outcome == "completed"]
    assert len(done) >= 3  # a stream may fail for real, but not most of them
    assert done.integrity_ok.all() and (done.frames_delivered == done.frames_total).all()
    assert (short_run.streams.duplicates_delivered == 0).all()
    assert (
        short_run.streams.disconnects
        == short_run.disconnects.groupby("stream")
        .size()
        .reindex(short_run.streams.stream, fill_value=0)
        .to_numpy()
    ).all()


def test_every_scheduled_fault_is_applied_and_counts_packets(short_run):
    faults = short_run.faults
    assert len(faults) == 4 * 3 and set(faults.kind) == {"reset", "close", "half_open"}
    live = faults[faults.live]
    assert len(live) >= 10  # the stream is still running at (nearly) all of its faults
    assert faults[faults.kind == "reset"].live.all()
    assert np.isfinite(live.applied_start).all() and (live.packets > 0).all()
    assert (live.applied_start >= live.scheduled_start).all()
    assert (live[live.kind == "reset"].packets_rejected > 0).all()


def test_a_reset_is_detected_as_a_reset_and_a_close_by_its_frame(short_run):
    d = short_run.disconnects
    assert (d[d.cause == "reset"].detected_by == "reset").any()
    assert (d[d.cause == "close"].detected_by == "close_frame").any()
    assert (d[d.cause == "half_open"].detected_by == "heartbeat").any()
    recovered = d[d.outcome == "recovered"]
    assert (recovered.recovered_at >= recovered.time).all()


def test_the_table_is_gone_and_provenance_is_complete(short_run):
    assert nft.table_name() not in nft.list_tables()
    assert not children_running(os.getpid())
    p = short_run.provenance
    assert p["websockets"] and p["kernel"] and p["nft"].startswith("nftables")
    assert 0 < p["loopback_rtt"]["control_round_trip"]["median"] < 0.1
    assert p["fault_start_lag"]["half_open"]["n"] >= 3


def test_a_stream_still_running_at_the_horizon_is_censored():
    res = run_testbed(short(horizon=1.0, **{"disconnects.schedule": ""}), 1, seed=0, progress=False)
    row = res.streams.iloc[0]
    assert row.outcome == "censored" and row.end_time == 1.0 and 0 < row.frames_delivered < 250
    assert row.buffer_bytes_at_horizon > 0
    times = row[[c for c in res.streams.columns if c.startswith("time_")]].sum()
    assert times == pytest.approx(1.0)


def test_an_exception_inside_a_run_removes_the_table_and_the_server():
    def fail(stream):
        assert nft.table_name() in nft.list_tables()
        raise RuntimeError("hook failure")

    with pytest.raises(RuntimeError, match="hook failure"):
        run_testbed(short(), 2, seed=0, progress=False, on_stream_open=fail)
    assert nft.table_name() not in nft.list_tables()
    assert not children_running(os.getpid())


@pytest.mark.parametrize(
    ("signum", "status"), [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, -signal.SIGINT)]
)
def test_a_signal_removes_the_table_and_the_server(signum, status):
    """SIGTERM ends the run with status 143, Ctrl-C as KeyboardInterrupt; either way clean."""
    script = textwrap.dedent(f"""
        from model.config import Scenario, apply_overrides
        from model.testbed import run_testbed
        cfg = apply_overrides(Scenario(), {{**{SHORT!r}, "content.frames": 5000}})
        run_testbed(cfg, 2, seed=0, progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stderr=subprocess.DEVNULL)
    table = nft.table_name(proc.pid)
    try:
        deadline = time.monotonic() + 30
        while not (table in nft.list_tables() and children_running(proc.pid)):
            assert proc.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.1)
        server = children_running(proc.pid)
        time.sleep(0.5)  # streams and faults under way
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == status
    finally:
        if proc.poll() is None:
            proc.kill()
    assert table not in nft.list_tables()
    time.sleep(0.2)
    assert not [pid for pid in server if Path(f"/proc/{pid}").exists()]


def test_a_stale_table_of_a_dead_owner_is_removed():
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = nft.table_name(int(gone.stdout))
    nft.run(nft.create_script(stale))
    assert stale in nft.remove_stale_tables()
    assert stale not in nft.list_tables()


def test_multi_stream_sessions_are_refused_in_one_line():
    with pytest.raises(
        ConfigError, match=r"session\.streams=4: 1 \(the testbed runs single-stream"
    ):
        run_testbed(apply_overrides(Scenario(), {"session.streams": 4}), 1, progress=False)


def test_calibrate_runs_the_real_stack_and_the_model_end_to_end(tmp_path, capsys):
    """`midstream calibrate` on the real stack: both sides' tables complete, every live fault
    applied (its nftables counter moved), the table gone, and the directory loads back."""
    from model.calibrate import load_calibration
    from model.cli import main

    sets = [f"--set={path}={value}" for path, value in {**SHORT, "content.frames": 150}.items()]
    out = tmp_path / "cal"
    code = main(
        [
            "calibrate",
            "text-interruption",
            "--streams",
            "3",
            "--seed",
            "5",
            "--quiet",
            "--out",
            str(out),
            *sets,
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0 and "acceptance" in printed and "model against real" in printed
    cal = load_calibration(out)
    assert len(cal.real.streams) == len(cal.model.streams) == 3
    assert set(cal.real.streams.columns) == set(cal.model.streams.columns)
    assert (cal.real.streams.outcome == "completed").all()
    live = cal.faults[cal.faults.live]
    assert len(live) and (live.packets + live.packets_rejected > 0).all()
    assert set(cal.table.key) >= {"detection_delay", "reconnect_time", "spurious"}
    assert nft.table_name() not in nft.list_tables()
