"""Bad and extreme input, one test per class: refused before any simulation in one line naming
what is wrong (exit 2), nothing written; outputs whole or absent; workers gone with their parent."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from model import limits
from model.cli import main, options
from model.config import ConfigError, Scenario, apply_overrides, settable_paths, setting
from model.outputs import atomic_write, written_together
from model.runner import Chunk, ProcessExecutor
from model.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parents[1]
RUN = ["run", "text-interruption", "--streams", "3", "--seed", "1", "--workers", "1", "--quiet"]
TINY = ["--set", "content.frames=20"]


def refused(argv, capsys, *fragments) -> str:
    """Run the command in this process; it must exit 2 with one line holding every fragment."""
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.mark.parametrize(
    "assignment, fragment",
    [
        ("horizon=inf", "horizon='inf': a number in (0.0, 1000000.0]"),
        ("horizon=1e300", "horizon=1e+300"),
        ("link.propagation=inf", "link.propagation='inf': a number in [0.0, 10.0]"),
        ("content.chunk_bytes=1e308", "content.chunk_bytes=1e+308"),
        ("network.poor.loss.p=nan", "network.poor.loss.p='nan'"),
        ("disconnects.weight_reset=inf", "disconnects.weight_reset='inf'"),
    ],
)
def test_non_finite_values_are_refused(assignment, fragment, capsys):
    refused([*RUN, "--set", assignment], capsys, fragment)


def test_infinity_is_taken_where_it_has_a_meaning():
    cfg = apply_overrides(Scenario(), ["client.ping_interval=inf", "server.retention=infinity"])
    assert cfg.client.ping_interval == float("inf") and cfg.server.retention == float("inf")
    ping = next(s for s in settable_paths(cfg) if s.path == "client.ping_interval")
    assert ping.allowed.endswith("or inf (no heartbeat)")


@pytest.mark.parametrize(
    "assignment, fragment",
    [
        ("content.frame_bytes=1e18", "content.frame_bytes=1000000000000000000: a number in [1, 1"),
        ("disconnects.rate_scale=1e9", "a number in [0.0, 1000000.0]"),
        ("client.ack_interval=1e-9", "client.ack_interval=1e-09: a number in [0.001,"),
        ("client.ping_interval=1e-9", "client.ping_interval=1e-09"),
        ("network.poor.jitter.shape=1e9", "a number in (0.0, 20.0]"),
        ("client.backoff.max_attempts=99999999999999999999", "a number in [1, 1000000]"),
        ("server.buffer_bytes=1e300", "server.buffer_bytes"),
        ("slo.completion_rate=0", "slo.completion_rate=0.0: a number in (0.0, 1.0]"),  # fuzz
    ],
)
def test_absurd_magnitudes_are_bounded(assignment, fragment, capsys):
    refused([*RUN, "--set", assignment], capsys, fragment)


@pytest.mark.parametrize("text", ["١٠", "1_000", "0x10", "١e3", "1e", ""])
def test_numbers_are_plain_ascii_decimals(text, capsys):
    refused([*RUN, "--set", f"content.frames={text}"], capsys, "content.frames=")


SCHEDULES = ["5:close:nan", "nan:close:1", "inf:close:1", "5:close:inf", "٥:close:1", "-1:reset:1"]


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_the_schedule_takes_plain_finite_numbers(schedule, capsys):
    argv = [*RUN, "--set", f"disconnects.schedule={schedule}"]
    refused(argv, capsys, "plain numbers in [0, 1e+06]")


def test_cross_field_checks_do_not_depend_on_the_order_of_overrides(capsys):
    both = ["link.rto_min=200", "link.rto_max=300"]
    assert apply_overrides(Scenario(), both) == apply_overrides(Scenario(), both[::-1])
    multipart = ["content.kind=multipart", "content.frames=3", "content.components=3"]
    assert apply_overrides(Scenario(), multipart) == apply_overrides(Scenario(), multipart[::-1])
    for order in (both, both[::-1]):  # and an inconsistent pair is refused in either order
        with pytest.raises(ConfigError, match="at least rto_min"):
            apply_overrides(Scenario(), [o.replace("300", "100") for o in order])


@pytest.mark.parametrize("path", ["name", "description"])
def test_the_scenario_name_is_not_a_setting(path, capsys):
    refused([*RUN, "--set", f"{path}=relabelled"], capsys, f"{path}='relabelled': not a setting")


def test_a_run_too_big_to_finish_is_refused_naming_its_cause(capsys, monkeypatch):
    refused(
        [*RUN, "--set", "client.ack_interval=0.001", "--set", "horizon=1e6"],
        capsys,
        "client.ack_interval=0.001: the run would take 1.01e+09 events per session",
        "--no-work-limit",
    )
    refused([*RUN, "--set", "session.streams=10000"], capsys, "session.streams=10000")
    refused([*RUN, "--set", "network.poor.mean_sojourn=1e-5"], capsys, "condition changes")
    corrupt = ["--set", "link.corruption_rate=0.9999", "--set", "link.propagation=0"]
    refused([*RUN, *corrupt], capsys, "link.corruption_rate=0.9999", "corruption reconnect")
    # every catalogue scenario fits at the sizes the CLI and the report give it
    for cfg in SCENARIOS.values():
        limits.check_run(cfg, 64_000 if cfg.session.streams == 1 else 600)
    # --no-work-limit skips the check (shown with a limit lowered below a tiny run)
    monkeypatch.setattr(limits, "MAX_SESSION_EVENTS", 10)
    refused([*RUN, *TINY], capsys, "pass --no-work-limit")
    assert main([*RUN, *TINY, "--no-work-limit"]) == 0


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["run", "text-interruption", "--streams", "99999999999999999999"], "from 1 to 10,000,000"),
        (["run", "text-interruption", "--seed", "٣"], "--seed: '٣': expected a whole number"),
        (["run", "text-interruption", "--workers", "0"], "--workers: 0"),
        (["run", "text-interruption", "--streams", "1_000"], "--streams: '1_000'"),
        (["run", "stress", "--streams", "200000"], "streams=20000000: at most 10,000,000"),
    ],
)
def test_huge_or_odd_counts_are_refused(argv, fragment, capsys):
    refused(argv, capsys, fragment)
    assert options.MAX_SESSIONS == limits.MAX_STREAMS  # one limit, kept in two light modules


@pytest.mark.parametrize(
    "argv, fragment",
    [
        ([*RUN, "--demonstrate"], "--streams=3: not with --demonstrate"),
        ([*RUN, "--until-decided"], "--streams=3: not with --until-decided"),
        ([*RUN, "--budget", "5"], "--budget=5: only with --until-decided or --demonstrate"),
        (["report", "--streams", "5", "--budget", "5"], "--budget=5: not with --streams"),
        (
            [*RUN, "--set", "content.frames=10", "--set", "content.frames=20"],
            "content.frames='20': also set to '10'",
        ),
    ],
)
def test_a_flag_the_run_would_ignore_is_refused(argv, fragment, capsys):
    refused(argv, capsys, fragment)


SWEEP = ["sweep", "text-interruption", "--streams", "2", "--workers", "1", "--quiet"]


@pytest.mark.parametrize(
    "options, fragment",
    [
        (["--vary", "content.frames=,,,"], "expected dotted.path=value1,value2"),
        (["--vary", "content.frames=10,10.0"], "10 and 10.0 are the same value"),
        (
            ["--vary", "client.strategy=resume", "--vary", "client.strategy=restart"],
            "also given by another --vary",
        ),
        (["--vary", "content.frames=10,20", "--set", "content.frames=5"], "also given by --set"),
        (["--vary", "link.rto_min=0.2,200"], "at least rto_min"),  # an invalid grid point
    ],
)
def test_sweep_grids_with_duplicates_or_invalid_points_are_refused(options, fragment, capsys):
    refused([*SWEEP, *options], capsys, fragment)


def test_unwritable_outputs_are_refused_before_simulating(tmp_path, capsys):
    (tmp_path / "folder.parquet").mkdir()
    (tmp_path / "x.disconnects.parquet").mkdir()  # a sibling output
    (tmp_path / "y.parquet.json").mkdir()  # a sidecar
    (tmp_path / "file").write_text("")
    before = sorted(tmp_path.iterdir())
    for out, fragment in [
        (tmp_path / "folder.parquet", "folder.parquet is a folder"),
        (tmp_path / "x.parquet", "x.disconnects.parquet is a folder"),
        (tmp_path / "y.parquet", "y.parquet.json is a folder"),
        (tmp_path / "missing" / "x.csv", "does not exist"),
        (Path("/proc/x.parquet"), "cannot write in /proc"),
    ]:
        refused([*RUN, "--out", str(out)], capsys, fragment)
    refused(["report", "--out", str(tmp_path / "file" / "r.pdf")], capsys, "is not a folder")
    assert sorted(tmp_path.iterdir()) == before  # nothing written, no probe left behind


def test_outputs_are_renamed_into_place_together_or_not_at_all(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("old")
    with pytest.raises(RuntimeError), written_together([a, b]) as temps:
        temps[a].write_text("new")
        raise RuntimeError("killed half way")
    assert a.read_text() == "old" and not b.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]  # no temporary left
    with written_together([a, b]) as temps:
        temps[a].write_text("new a")
        temps[b].write_text("new b")
    assert a.read_text() == "new a" and b.read_text() == "new b"


def test_a_dead_writers_temporary_files_are_cleaned_by_the_next(tmp_path):
    out = tmp_path / "p.parquet"
    dead = tmp_path / ".p.parquet.99999999.0badc0de.tmp"  # pid beyond pid_max: not running
    live = tmp_path / f".p.parquet.{os.getpid()}.0badc0de.tmp"  # a running writer's
    dead.write_text("half")
    live.write_text("in progress")
    atomic_write(out, lambda tmp: Path(tmp).write_text("whole"))
    assert out.read_text() == "whole" and not dead.exists() and live.exists()


def test_a_closed_stdout_does_not_lose_the_tables(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "model.cli", *RUN, *TINY, "--out", "p.csv"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.readline()  # `| head -1`: read a line, then close the pipe
    proc.stdout.close()
    proc.wait(timeout=120)
    assert len(pd.read_csv(tmp_path / "p.csv")) == 3
    assert (tmp_path / "p.disconnects.csv.json").exists()
    assert b"Traceback" not in proc.stderr.read()


def _pid(chunk):
    time.sleep(0.2)
    return os.getpid()


def test_workers_are_capped_by_the_chunks():
    import multiprocessing

    chunks = [Chunk(0, 0), Chunk(1, 1)]
    seen = set()
    for _, pid in ProcessExecutor(16).map_chunks(_pid, chunks):
        seen.add(pid)
        assert len(multiprocessing.active_children()) <= 2
    assert 1 <= len(seen) <= 2


def _start_run(tmp_path) -> tuple[subprocess.Popen, list[int]]:
    """A long two-worker run in its own session; returns it once its workers exist."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "model.cli", *RUN[:2], "--streams", "100000", "--quiet"]
        + ["--workers", "2", "--no-work-limit"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    for _ in range(600):
        kids = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
        if len(kids.stdout.split()) >= 2:
            return proc, [int(k) for k in kids.stdout.split()]
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the workers did not start")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses pgrep and /proc")
def test_workers_die_with_their_parent_even_when_it_is_killed(tmp_path):
    proc, workers = _start_run(tmp_path)
    proc.kill()  # SIGKILL: no chance to clean up
    proc.wait()
    deadline = time.monotonic() + 5
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_alive, workers))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses pgrep and /proc")
def test_a_dead_worker_is_one_line_naming_the_chunk_and_seed(tmp_path):
    proc, workers = _start_run(tmp_path)
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and err.count("\n") == 1, err
    assert "root seed 0: a worker process died while simulating the chunk of streams" in err


def test_setting_reads_a_dotted_path():
    assert setting(Scenario(), "client.backoff.max_attempts") == 10


def test_a_truncated_checkpoint_is_recomputed_not_a_traceback(tmp_path):
    from model.runner import run

    cfg = apply_overrides(SCENARIOS["text-interruption"], ["content.frames=20"])
    first = run(cfg, 6, 1, workers=1, chunk_size=3, workdir=tmp_path, progress=False)
    part = sorted((tmp_path / "streams").glob("part-*.parquet"))[0]
    part.write_bytes(part.read_bytes()[:100])  # truncated
    again = run(cfg, 6, 1, workers=1, chunk_size=3, workdir=tmp_path, progress=False)
    pd.testing.assert_frame_equal(first.streams, again.streams)
