"""The fidelity comparison (model.fidelity), calibration runs and files (model.calibrate), the
`midstream calibrate` verb and the report's fidelity section.

Until the real stack is merged, both sides are the model: against itself (identical config and
seed) nothing may differ, and a changed mechanism must be caught. `ModelStack` stands in for
`model.testbed` through calibrate's `testbed` seam: the model with some settings changed, playing
the real stack."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

from model import calibrate as calibration
from model import cli, fidelity
from model.calibrate import (
    TABLES,
    calibrate,
    compare,
    load_calibration,
    load_testbed,
    loopback_probe,
    matched_config,
    write_calibration,
)
from model.config import ConfigError, apply_overrides
from model.scenarios import get_scenario
from model.simulation import Results, simulate

STREAMS, SEED = 300, 1
# disconnects every 15 s of a 10 s stream, and a heartbeat that notices silent outages
BASE = {
    "content.frames": 500,
    "disconnects.rate_scale": 4.0,
    "client.ping_interval": 2.0,
    "client.ping_timeout": 2.0,
}


def scenario(**extra):
    return apply_overrides(get_scenario("text-interruption"), {**BASE, **extra})


@pytest.fixture(scope="module")
def base():
    return simulate(scenario(), STREAMS, SEED)


def table(real: Results, model: Results) -> pd.DataFrame:
    return fidelity.fidelity_table(real, model).set_index("key")


class ModelStack:
    """The model on loopback, with `changes`, in the place of the real stack (model.testbed's
    API): without changes, calibrate compares the model with itself."""

    PROVENANCE = {"stack": "the model standing in", "rtt_s": 1e-4, "bandwidth_bytes_per_s": 1e9}

    def __init__(self, reason: str | None = None, **changes):
        self.reason, self.changes = reason, {k.replace("__", "."): v for k, v in changes.items()}

    def check_available(self):
        return self.reason

    def run_testbed(self, cfg, streams, seed=0, *, first_stream=0, concurrency=16, progress=True):
        on_loopback, _ = matched_config(cfg, [], self.PROVENANCE)
        res = simulate(apply_overrides(on_loopback, self.changes), streams, seed, first_stream)
        res.faults = pd.DataFrame(
            {
                "stream": res.disconnects.stream,
                "kind": res.disconnects.cause,
                "scheduled_start": res.disconnects.time,
                "applied_start": res.disconnects.time + 0.003,
                "packets": np.arange(len(res.disconnects)),
            }
        )
        res.provenance = dict(self.PROVENANCE)
        return res


# ---------------------------------------------------------------- the table


def test_model_against_itself_differs_in_nothing(base):
    t = table(base, simulate(scenario(), STREAMS, SEED))
    assert list(t.index) == [m.key for m in fidelity.MEASURES]
    assert (t.difference == 0).all() and (t.difference_lower == 0).all()
    assert (t.difference_upper == 0).all() and (t.relative_difference == 0).all()
    assert (t.real == t.model).all() and (t.real_upper == t.model_upper).all()
    assert (t.verdict == "agree").all()
    p = t[["p_difference", "p_means", "p_ks", "p_ad"]].to_numpy(dtype=float)
    assert (p[np.isfinite(p)] >= 0.01).all()
    assert (t.pairs == t.real_n).all()  # every stream and every disconnect found its twin
    checks = fidelity.acceptance(t.reset_index()).set_index("check")
    assert (checks.status == "PASS").all()
    half = (t.real_upper - t.real_lower)["detected_to_first_frame"] / 2
    own = f"±{half / t.real['detected_to_first_frame']:.0%})"  # the real mean's own uncertainty
    assert checks.criterion["detected to first frame"].endswith(own)


def test_a_doubled_mean_outage_is_caught(base):
    t = table(base, simulate(scenario(**{"disconnects.outage.scale": 3.0}), STREAMS, SEED))
    for key in (
        "reconnect_time",
        "recovery_time",
        "detected_to_first_frame",
        "attempts",
        "completion_time",
    ):
        assert t.verdict[key] == "differ", key
        assert t.difference_lower[key] > 0, key  # longer, and the interval says so
    assert t.verdict["resume_time"] == "agree"  # connected -> first frame: outage-free
    checks = fidelity.acceptance(t.reset_index()).set_index("check")
    assert checks.status["recovery time distribution"] == "FAIL"
    assert checks.status["detected to first frame"] == "FAIL"


def test_a_four_times_longer_ping_timeout_is_caught(base):
    t = table(base, simulate(scenario(**{"client.ping_timeout": 8.0}), STREAMS, SEED))
    # detection delay is not among them: a client that gives up waits for the closing handshake,
    # which ends when the outage does, whatever the ping timeout
    for key in ("disconnects", "stalls_absorbed", "outage_share"):
        assert t.verdict[key] == "differ", key
    assert t.difference["stalls_absorbed"] > 0 and t.difference_upper["outage_share"] < 0
    assert t.verdict["resume_time"] == "agree"


def test_a_late_fault_still_pairs_and_unknown_times_fall_back_to_stream_means(base):
    late = Results(base.streams, base.disconnects.assign(time=base.disconnects.time + 0.05))
    t = table(late, base)
    assert t.paired_by["reconnect_time"] == "disconnect"
    assert t.pairs["reconnect_time"] == len(base.disconnects)
    unknown = Results(base.streams, base.disconnects.assign(time=np.nan))
    t = table(unknown, base)
    assert t.paired_by["recovery_time"] == "stream mean"
    assert t.pairs["recovery_time"] == base.disconnects.stream.nunique()
    assert t.verdict["recovery_time"] == "agree"


def test_columns_the_real_stack_cannot_measure_give_na(base):
    streams = base.streams.assign(stalls_absorbed=np.nan).drop(columns=["outages_while_streaming"])
    discs = base.disconnects.assign(cause=None).drop(columns=["detected_at"])
    t = table(Results(streams, discs), base)
    for key in ("stalls_absorbed", "outage_share", "spurious", "detected_to_first_frame"):
        assert t.verdict[key] == "n/a" and math.isnan(t.real[key]) and t.real_n[key] == 0, key
    assert t.verdict["detection_delay"] == "agree"  # a column still there is still compared
    checks = fidelity.acceptance(t.reset_index()).set_index("check")
    assert checks.status["detected to first frame"] == "N/A"
    assert checks.status["spurious disconnects per stream"] == "N/A"
    assert checks.status["completion time distribution"] == "PASS"
    assert "n/a" in fidelity.aligned(fidelity.comparison_rows(t.reset_index()))


@pytest.mark.parametrize("real_streams, calm", [(1, False), (3, True)])
def test_tiny_and_empty_samples_are_na_not_a_crash(real_streams, calm):
    cfg = scenario(**({"disconnects.rate_scale": 0.0} if calm else {}))
    real = simulate(cfg, real_streams, SEED)
    t = table(real, simulate(scenario(), real_streams, SEED))
    if calm:  # no disconnect on the real side: nothing to compare per disconnect
        per_disconnect = [m.key for m in fidelity.MEASURES if m.per == "disconnect"]
        assert (t.real_n[per_disconnect] == 0).all()
        assert (t.verdict[per_disconnect] == "n/a").all()
    else:  # one stream a side: means, but no interval and no test
        assert np.isnan(t.real_lower["completion_time"]) and t.verdict["completion_time"] == "n/a"
    empty = Results(pd.DataFrame(), pd.DataFrame())
    t = table(empty, real)
    assert (t.verdict == "n/a").all() and (t.real_n == 0).all()
    fidelity.reading(t.reset_index(), fidelity.acceptance(t.reset_index()))
    fidelity.ecdf_figure(empty, real)


def test_ecdf_figure_has_four_panels_and_a_computed_caption(base):
    fig = fidelity.ecdf_figure(
        base, simulate(scenario(**{"disconnects.outage.scale": 3.0}), STREAMS, SEED)
    )
    assert len(fig.axes) == 4
    assert "Recovery time: median" in fig.caption and "KS p = " in fig.caption


# ---------------------------------------------------------------- calibration runs and files


def test_calibrate_writes_a_directory_that_loads_back(tmp_path):
    out = tmp_path / "cal"
    stack = ModelStack(**{"disconnects__outage__scale": 3.0})
    cal = calibrate(
        scenario(),
        60,
        SEED,
        out=out,
        progress=False,
        overrides=["content.frames=500"],
        testbed=stack,
    )
    names = {p.name for p in out.iterdir()}
    assert names == {f"{n}.parquet" for n in TABLES} | {"fidelity.csv", "fidelity.json", "ecdf.png"}
    prov = cal.provenance
    assert prov["seed"] == SEED and prov["testbed"]["stack"] == "the model standing in"
    assert prov["matched"]["link.propagation"]["value"] == pytest.approx(5e-5)
    assert "reported by the testbed" in prov["matched"]["link.propagation"]["why"]
    assert prov["matched"]["link.bandwidth"]["value"] == 1e9
    jitter = prov["model_config"]["network"]["unstable"]["jitter"]
    assert jitter["kind"] == "constant" and jitter["scale"] == 0.0
    assert prov["command"].startswith("midstream calibrate text-interruption --streams 60 --seed 1")
    back = load_calibration(out)
    pd.testing.assert_frame_equal(back.table, cal.table)
    pd.testing.assert_frame_equal(back.checks, cal.checks)
    pd.testing.assert_frame_equal(back.real.streams, cal.real.streams)
    pd.testing.assert_frame_equal(back.faults, cal.faults)
    assert back.provenance == json.loads((out / "fidelity.json").read_text())["provenance"]
    written = pd.read_csv(out / "fidelity.csv")
    assert list(written.columns) == fidelity.COLUMNS and len(written) == len(fidelity.MEASURES)
    assert cal.table.set_index("key").verdict["reconnect_time"] == "differ"


def test_the_model_is_matched_to_loopback_except_where_the_user_set_it():
    cfg = scenario(**{"link.propagation": 0.05, "network.poor.jitter.scale": 0.1})
    user = ["link.propagation=0.05", "network.poor.jitter.scale=0.1"]
    bed = {"model_overrides": {"network.unstable.loss.model": "none"}}
    model, matched = matched_config(cfg, user, bed, probe=loopback_probe)
    assert model.link.propagation == 0.05 and "link.propagation" not in matched
    assert model.network.poor.jitter == cfg.network.poor.jitter
    assert model.network.unstable.jitter.scale == 0
    assert model.network.stable.jitter.kind == "constant"
    assert model.network.unstable.loss.model == "none"
    assert matched["network.unstable.loss.model"]["why"] == "stated by the testbed"
    assert "measured here" in matched["link.bandwidth"]["why"]
    rtt, bandwidth = loopback_probe()
    assert 0 < rtt < 0.1 and bandwidth > 1e6


def test_the_server_loops_lag_is_matched_as_jitter_and_taken_out_of_processing():
    lag = {"n": 500, "median": 5e-4, "p99": 2e-3, "max": 4e-3}
    bed = {"rtt_s": 1e-4, "bandwidth_bytes_per_s": 1e9, "first_connect_s": 4e-3}
    model, matched = matched_config(scenario(), [], {**bed, "loop_lag": {"server": lag}})
    jitter = model.network.unstable.jitter
    assert (jitter.kind, jitter.scale) == ("lognormal", 5e-4)
    assert jitter.scale * math.exp(2.3263 * jitter.shape) == pytest.approx(2e-3, rel=1e-4)
    assert (
        model.network.poor.jitter == jitter
        and "timer lag" in matched["network.poor.jitter.kind"]["why"]
    )
    # the median first connection, 2 round trips of RTT, two jittered legs and processing each
    assert model.server.processing == pytest.approx(2e-3 - 1e-4 - 2 * jitter.mean())
    unmeasured, _ = matched_config(scenario(), [], bed)
    assert unmeasured.network.unstable.jitter.scale == 0
    assert unmeasured.server.processing == pytest.approx(2e-3 - 1e-4)


def test_the_first_connection_is_timed_from_its_own_attempt_not_the_streams_start():
    from model.testbed.runner import first_connect

    def record(log, breaks=()):
        return SimpleNamespace(log=log, disconnect_log=[SimpleNamespace(time=t) for t in breaks])

    records = [
        record([(0.0, "connecting"), (0.003, "streaming")]),
        # backoff.first_delay: the attempt starts after the wait
        record(
            [(0.0, "connecting"), (0.001, "backing_off"), (0.1, "connecting"), (0.105, "streaming")]
        ),
        record([(0.0, "connecting"), (0.5, "streaming")], breaks=[0.2]),  # a fault came first
    ]
    assert first_connect(records) == pytest.approx(0.004)


def test_a_directory_without_a_calibration_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="fidelity.json"):
        load_calibration(tmp_path)


def test_an_unavailable_testbed_stops_before_any_work():
    with pytest.raises(calibration.TestbedUnavailable, match="needs root"):
        load_testbed(ModelStack(reason="needs root"))
    with pytest.raises(calibration.TestbedUnavailable, match="cannot be imported"):
        load_testbed("model.no_such_testbed")


# ---------------------------------------------------------------- the command line and the report


@pytest.mark.parametrize(
    "testbed, message",
    [
        (ModelStack(reason="not running as root"), "cannot run here: not running as root"),
        ("model.no_such_testbed", "cannot be imported"),
    ],
)
def test_calibrate_without_a_real_stack_says_so_and_exits_2(testbed, message, tmp_path, capsys):
    out = tmp_path / "cal"
    code = cli.main(
        ["calibrate", "text-interruption", "--streams", "4", "--out", str(out), "--quiet"],
        testbed=testbed,
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_calibrate_prints_the_table_and_the_checks(capsys):
    code = cli.main(
        [
            "calibrate",
            "text-interruption",
            "--streams",
            "40",
            "--seed",
            "1",
            "--quiet",
            *[a for k, v in BASE.items() for a in ("--set", f"{k}={v}")],
        ],
        testbed=ModelStack(),
    )
    out = capsys.readouterr().out
    assert code == 0
    for text in (
        "model against real",
        "p KS",
        "verdict",
        "acceptance",
        "detected to first frame",
        "spurious disconnects per stream",
        "Of 11 figures, 11 agree",
        "Acceptance: 5 of 5 checks pass",
    ):
        assert text in out, text


def test_report_adds_the_fidelity_section(base, tmp_path):
    cal = compare(
        base,
        simulate(scenario(**{"client.ping_timeout": 8.0}), STREAMS, SEED),
        provenance={
            "scenario": "text-interruption",
            "seed": SEED,
            "streams": STREAMS,
            "command": "midstream calibrate text-interruption --streams 300",
        },
    )
    write_calibration(cal, tmp_path / "cal")
    pdf = tmp_path / "r.pdf"
    code = cli.main(
        [
            "report",
            "text-interruption",
            "--streams",
            "10",
            "--set",
            "content.frames=100",
            "--no-sweep",
            "--no-validation",
            "--workers",
            "1",
            "--quiet",
            "--fidelity",
            str(tmp_path / "cal"),
            "--out",
            str(pdf),
        ]
    )
    assert code == 0
    text = " ".join(page.extract_text() for page in PdfReader(pdf).pages)
    for needle in (
        "Fidelity against a real stack",
        "acceptance check",
        "detected to first frame",
        "model - real",
        "Empirical CDFs of the real stack",
        "Acceptance:",
        "midstream calibrate text-interruption --streams 300",
    ):
        assert needle in text, needle
    assert json.loads(pdf.with_name("r.pdf.json").read_text())["fidelity"] == str(tmp_path / "cal")


def test_report_refuses_a_directory_that_is_not_a_calibration(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["report", "text-interruption", "--fidelity", str(tmp_path)])
    assert exit_.value.code == 2 and "no fidelity.json" in capsys.readouterr().err
