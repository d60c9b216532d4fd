"""Every catalogue scenario runs, through the API and the CLI, and keeps the model-core
invariants."""

import subprocess
import sys

import pytest

from invariants import check_stream_invariants
from model.config import apply_overrides
from model.scenarios import CATALOGUE, SCENARIOS
from model.simulation import run_session, simulate

# smaller sessions and responses keep the suite fast; the mechanisms are the same
SHRINK = {"content.frames": 150}


def shrunk(name, frames=150):
    cfg = SCENARIOS[name]
    return apply_overrides(
        cfg, {"content.frames": frames, "session.streams": min(cfg.session.streams, 6)}
    )


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_keeps_the_invariants(name):
    cfg = shrunk(name)
    for session in range(3):
        run = run_session(cfg, 11, session)
        for member in run.members:
            check_stream_invariants(member, cfg, run_on=False)
        # past the horizon every buffer of the session is eventually freed (nothing leaks)
        if all(m.client.outcome != "censored" for m in run.members):
            run.env.run(until=cfg.horizon + cfg.server.retention + 10_000)
            assert all(s.buffer_bytes(run.env.now) == 0 for s in run.server.streams.values())


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_override_is_explained_and_the_description_says_what_it_is(name):
    entry = next(e for e in CATALOGUE if e.name == name)
    assert set(entry.overrides) == set(entry.why)
    assert SCENARIOS[name].description.startswith(entry.summary)


def test_concurrent_streams_are_all_hit_by_one_disconnect():
    cfg = apply_overrides(
        SCENARIOS["concurrent-interruptions"],
        {
            **SHRINK,
            "disconnects.schedule": "3:close:1",
            "disconnects.rate_scale": 0,
            "session.start_spread": 0,
        },
    )
    res = simulate(cfg, 1, seed=2)
    assert len(res.streams) == 20 and (res.streams.disconnects == 1).all()
    assert (res.disconnects.time == 3.0).all() and (res.disconnects.outcome == "recovered").all()
    assert res.streams.integrity_ok.all()


def test_timeout_and_retry_gives_up_with_typed_errors_and_releases_buffers():
    res = simulate(shrunk("timeout-and-retry", frames=1000), 60, seed=3)
    failed = res.streams[res.streams.outcome == "failed"]
    assert len(failed) > 0 and set(failed.error) == {"network_timeout"}
    assert (
        failed.buffer_released_by.notna().all() and (failed.buffer_released_by < float("inf")).all()
    )


def test_clients_that_never_come_back_have_their_buffers_freed():
    cfg = shrunk("buffer-memory-management", frames=1000)
    res = simulate(cfg, 10, seed=4)
    lost = res.streams[res.streams.error == "auth_failure"]
    assert len(lost) > 0
    assert (lost.buffer_freed_at <= cfg.horizon).all() and (lost.buffer_bytes_at_horizon == 0).all()


def test_cli_runs_a_scenario():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "model.cli",
            "run",
            "concurrent-interruptions",
            "--streams",
            "2",
            "--set",
            "content.frames=100",
            "--workers",
            "1",
            "--quiet",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "40 streams" in out.stdout and "SLO verdicts" in out.stdout


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_runs_through_the_cli(name, capsys):
    from model.cli import main

    assert (
        main(
            [
                "run",
                name,
                "--streams",
                "2",
                "--set",
                "content.frames=60",
                "--set",
                "session.streams=2",
                "--workers",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"{name}: 4 streams" in out and "SLO verdicts" in out
