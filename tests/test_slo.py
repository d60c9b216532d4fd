"""SLO verdicts from tables: the conventions of model/slo.py on constructed data."""

import math

import numpy as np
import pandas as pd
import pytest

from model.config import Slo
from model.records import DISCONNECT_SCHEMA
from model.simulation import Results
from model.slo import decided, rate_counts, verdicts


def tables(n_streams, failed=0, broken=0, recovery_times=(), unrecovered=0):
    streams = pd.DataFrame(
        {
            "stream": range(n_streams),
            "session": range(n_streams),
            "session_buffer_peak_bytes": 1000,
            "outcome": ["failed"] * failed + ["completed"] * (n_streams - failed),
            "error": ["network_timeout"] * failed + [""] * (n_streams - failed),
            "integrity_ok": [False] * failed
            + [True] * (n_streams - failed - broken)
            + [False] * broken,
            "duplicates_delivered": 0,
            "buffer_peak_bytes": 1000,
            "buffer_released_by": 125.0,
        }
    )
    times = list(recovery_times) + [np.nan] * unrecovered
    d = pd.DataFrame({c: np.nan for c in DISCONNECT_SCHEMA.names()}, index=range(len(times)))
    d["recovery_time"] = times
    d["reconnect_time"] = [0.5] * len(times)
    d["resume_time"] = [0.05] * len(times)
    d["outcome"] = ["recovered"] * len(recovery_times) + ["network_timeout"] * unrecovered
    return Results(streams, d)


def row(table, name):
    return table.set_index("slo").loc[name]


def test_clean_large_sample_passes_completion():
    t = verdicts(tables(6000, recovery_times=[1.0] * 500), Slo())
    assert row(t, "completion_rate").status == "PASS"  # 6000 >= 5990 failure-free streams
    assert row(t, "p99 recovery_time").status == "PASS"


def test_small_clean_sample_is_inconclusive_and_says_how_many_more():
    t = verdicts(tables(1000, recovery_times=[1.0] * 50), Slo())
    r = row(t, "completion_rate")
    assert r.status == "INCONCLUSIVE" and r.more_streams == 4990 and not decided(t)


def test_zero_tolerance_integrity_fails_at_the_first_violation():
    t = verdicts(tables(100, broken=1), Slo())
    assert row(t, "integrity_rate").status == "FAIL"
    assert row(verdicts(tables(100), Slo()), "integrity_rate").status == "PASS"


def test_unrecovered_disconnects_count_as_infinitely_slow():
    res = tables(5000, failed=30, recovery_times=[1.0] * 90, unrecovered=10)
    t = verdicts(res, Slo())
    assert row(t, "p99 recovery_time").status == "FAIL"  # 10 % infinite: the p99 is infinite
    assert rate_counts(res)["recovery_rate"] == (90, 100)
    assert row(t, "completion_rate").status == "FAIL"


def test_timeout_handling_needs_a_typed_error_and_a_released_buffer():
    res = tables(50, failed=3)
    res.streams.loc[0, "buffer_released_by"] = np.inf  # held by a live connection: a leak
    assert rate_counts(res)["timeout_handling_rate"] == (2, 3)
    assert row(verdicts(res, Slo()), "timeout_handling_rate").status == "FAIL"


def test_sessions_of_several_streams_are_judged_per_session():
    # 6000 clean streams in 60 sessions of 100: per stream it would PASS 99.95 %, but only 60
    # independent sessions were seen, so the conservative clustered bound cannot decide it
    res = tables(6000, recovery_times=[1.0] * 10)
    res.streams["session"] = res.streams.stream // 100
    r = row(verdicts(res, Slo()), "completion_rate")
    assert r.status == "INCONCLUSIVE" and "clustered by session" in r.method
    assert r.lower == pytest.approx(
        0.05 ** (1 / 60)
    )  # one-sided C-P lower bound, 60/60 clean sessions
    # with none failing a PASS needs n sessions with 0.05^(1/n) >= 0.9995: n = 5,990, so
    # 5,930 more sessions of 100 streams
    assert math.log(0.05) / math.log(0.9995) == pytest.approx(5989.97, abs=0.01)
    assert r.more_streams == (5990 - 60) * 100
    # a failure in 40 % of sessions: even if each held only one failed stream (1/100), the stream
    # completion rate is at most 1 - lower(0.4)/100 < 99.95 %: FAIL
    failed = res.streams.session < 24
    res.streams.loc[failed & (res.streams.stream % 100 == 0), "outcome"] = "failed"
    assert row(verdicts(res, Slo()), "completion_rate").status == "FAIL"
