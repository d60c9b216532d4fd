"""The command line as a user meets it: real subprocesses, exit codes, messages, files."""

import json
import subprocess
import sys

import pandas as pd
import pytest


def midstream(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "model.cli", *args], capture_output=True, text=True, cwd=cwd
    )


SMALL = ["--set", "content.frames=100", "--quiet", "--workers", "1"]


def test_scenarios_lists_the_catalogue():
    out = midstream("scenarios")
    assert out.returncode == 0 and "text-interruption" in out.stdout


def test_describe_lists_every_path_with_unit_and_range():
    out = midstream("describe", "text-interruption")
    assert out.returncode == 0
    assert "network.unstable.jitter.scale" in out.stdout and "slo.recovery_time" in out.stdout
    assert "[a number in (0.0, 1000000.0]]" in out.stdout


def test_run_prints_estimates_and_verdicts_and_writes_tables_with_provenance(tmp_path):
    out = midstream(
        "run",
        "text-interruption",
        "--streams",
        "60",
        "--seed",
        "4",
        *SMALL,
        "--out",
        str(tmp_path / "runs.parquet"),
    )
    assert out.returncode == 0, out.stderr
    assert "SLO verdicts" in out.stdout and "completion_rate" in out.stdout
    streams = pd.read_parquet(tmp_path / "runs.parquet")
    assert len(streams) == 60 and (tmp_path / "runs.disconnects.parquet").exists()
    prov = json.loads((tmp_path / "runs.parquet.json").read_text())
    assert prov["seed"] == 4 and "content.frames=100" in prov["overrides"]


def test_run_demonstrate_stops_at_its_budget():
    out = midstream(
        "run", "text-interruption", "--demonstrate", "--budget", "40", "--seed", "4", *SMALL
    )
    assert out.returncode == 0, out.stderr
    assert "40 streams" in out.stdout.replace(",", "")


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["run", "no-such-scenario"],
            "scenario='no-such-scenario': one of buffer-memory-management, ",
        ),
        (["run", "text-interruption", "--set", "link.bandwith=3"], "did you mean link.bandwidth"),
        (
            ["run", "text-interruption", "--set", "client.ack_interval=0"],
            "client.ack_interval=0.0: a number in [0.001, 1000000.0] or inf (no acks)",
        ),
        (
            ["run", "text-interruption", "--streams", "0"],
            "--streams: 0: must be a whole number from 1 to 10,000,000",
        ),
        (["run", "text-interruption", "--streams", "-5"], "must be a whole number from 1"),
        (["run", "text-interruption", "--out", "runs.xlsx"], "must end in .parquet or .csv"),
        (
            ["sweep", "text-interruption", "--vary", "client.strategy=resume,teleport"],
            "one of resume, restart",
        ),
        (["describe", "nope"], "text-interruption, timeout-and-retry"),
        (
            ["run", "text-interruption", "--demonstrate", "--until-decided"],
            "not allowed with argument",
        ),
    ],
)
def test_bad_input_gets_one_clear_message_and_exit_2(args, message, tmp_path):
    out = midstream(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert message in out.stderr
    assert out.stderr.count("\n") == 1  # one line, no usage block, no traceback
    assert not list(tmp_path.iterdir())  # nothing written


def test_every_verb_has_help():
    for verb in ("scenarios", "describe", "run", "sweep"):
        out = midstream(verb, "--help")
        assert out.returncode == 0 and "usage: midstream" in out.stdout
