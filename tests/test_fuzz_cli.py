"""The command line against generated input (hypothesis): dotted overrides and argument lists,
valid, invalid, extreme and non-ASCII. Whatever it is given, `midstream` either runs and prints its
tables (exit 0) or refuses in exactly one line (exit 2): never a traceback, never a run past a
small time budget.

The run sizes stay tiny (at most 3 sessions) and the work limit is lowered to 50,000 events per
session, so a configuration the limit lets through must finish in seconds: a mechanism the work
estimate missed shows up here as an overlong run. MIDSTREAM_FUZZ_EXAMPLES=N explores more (CI runs
a fixed, derandomised set of 200, about half of them runs, in 10 to 20 s).
"""

import contextlib
import dataclasses
import io
import math
import os
import signal

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from model import limits
from model.cli import main
from model.config import ConfigError, apply_overrides, settable_paths
from model.scenarios import get_scenario

EXAMPLES = int(os.environ.get("MIDSTREAM_FUZZ_EXAMPLES", "200"))
SECONDS = 60  # per command: 12 sessions (a sweep of 2 x 2 points x 3) at the lowered limit
SETTINGS = list(settable_paths(get_scenario("text-interruption")))
PATHS = [s.path for s in SETTINGS] + ["name", "client", "bogus.path", "content.frames.x", ""]

odd_text = st.sampled_from(
    ["", " ", "nan", "-nan", "inf", "-inf", "Infinity", "1e300", "-1e300", "1e-300", "1e-9", "0",
     "-0", "-1", "1_000", "0x10", "١٠", "٣.٥", "1e", ".", "true", "yes", "é", "☃", "5:close:1",
     "5:close:nan", "nan:close:1", "1:reset:١", "5:close:1;6:half_open:2", "resume", "ack"]
)  # fmt: skip
numbers = st.one_of(
    st.integers(-5, 2000).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(0, 1e7).map(lambda x: f"{x:g}"),
)
values = st.one_of(odd_text, numbers, st.text(max_size=6))


def _leaves(cfg, prefix=""):
    """(path, default, metadata) of every declared setting."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            yield from _leaves(value, f"{prefix}{f.name}.")
        elif f.metadata:
            yield f"{prefix}{f.name}", value, f.metadata


def _edges(default, meta) -> list[str]:
    """Valid values at and near the edges of a setting's range (and its choices)."""
    if meta.get("choices"):
        return [str(c).lower() for c in meta["choices"]]
    if isinstance(default, str):
        return ["", "5:close:1", "0:half_open:0;1e5:reset:2"]
    lo, hi = meta.get("lo"), meta.get("hi")
    out = [default, default * 10, default / 10] if default not in (0, math.inf) else [1.0]
    if lo is not None:
        out += [lo * 1.001 + 1e-6] + ([] if meta.get("lo_open") else [lo])
    if hi is not None:
        out += [hi * 0.999] + ([] if meta.get("hi_open") else [hi])
    if meta.get("inf"):
        out.append("inf")
    if isinstance(default, int) and not isinstance(default, bool):
        out = [v if v == "inf" else str(round(v)) for v in out]
    return [str(v) for v in out]


def _valid(path: str, value: str) -> bool:
    try:
        apply_overrides(BASE, [f"{path}={value}"])
    except ConfigError:
        return False
    return True


BASE = get_scenario("text-interruption")
VARY = [(p, [v for v in _edges(d, m) if _valid(p, v)]) for p, d, m in _leaves(BASE)]
VARY = [(p, edges) for p, edges in VARY if edges]
EDGES = [f"{p}={v}" for p, edges in VARY for v in edges]
GOOD_SCENARIOS = ["text-interruption", "rapid-reconnection", "json-interruption"]
PARTS = ("scenario", "seed", "workers", "override", "size", "vary", "out")


def _pick(draw, broken: bool, good: list, bad: list) -> str:
    return draw(st.sampled_from(bad if broken else good))


@st.composite
def commands(draw, out_dir):
    """A command with every part valid (often at the edge of its range), or with one part (or,
    rarely, several) drawn from bad input."""
    kind = draw(st.integers(0, 9))  # 0-4: all valid; 5-8: one part broken; 9: all
    broken = set() if kind < 5 else {draw(st.sampled_from(PARTS))} if kind < 9 else set(PARTS)
    verb = draw(st.sampled_from(["run", "run", "sweep", "describe"]))
    scenario = _pick(draw, "scenario" in broken, GOOD_SCENARIOS, ["nope", "", "téxt"])
    if verb == "describe":
        return ["describe", scenario]
    argv = [verb, scenario, "--quiet"]
    argv += ["--workers", _pick(draw, "workers" in broken, ["1"], ["0", "x", "-2", "١"])]
    seeds = ["-1", "١", "18446744073709551616", "1.5"]
    argv += ["--seed", _pick(draw, "seed" in broken, ["0", "7", str(2**63 - 1)], seeds)]
    bad_overrides = st.one_of(
        st.builds(lambda p, v: f"{p}={v}", st.sampled_from(PATHS), values),
        st.sampled_from(["noequals", "=1", "content.frames", "name=x"]),
    )
    chosen = draw(st.lists(st.sampled_from(EDGES), max_size=3))
    if "override" in broken:
        chosen.append(draw(bad_overrides))
    for o in draw(st.permutations(chosen)):
        argv += ["--set", o]
    bad_counts = ["0", "-1", "x", "٣", "99999999999999999999", "2.5", ""]
    count = _pick(draw, "size" in broken, ["1", "2", "3"], bad_counts)
    if verb == "run":
        size = draw(st.sampled_from(["streams", "demonstrate", "until-decided"]))
        if size == "streams":
            argv += ["--streams", count]
        else:
            argv += [f"--{size}", "--budget", count]
            if "size" in broken:
                argv += ["--streams", "2"]  # ignored by the mode: refused
    else:
        argv += ["--streams", count]
        varied = st.lists(st.sampled_from(VARY), min_size=1, max_size=2, unique_by=lambda v: v[0])
        for path, edges in draw(varied):
            if "vary" in broken:
                picked = draw(st.lists(st.one_of(values, st.just("")), min_size=1, max_size=2))
            else:
                picked = draw(st.lists(st.sampled_from(edges), min_size=1, max_size=2, unique=True))
            argv += ["--vary", f"{path}={','.join(picked)}"]
    bad_outs = ["t.xlsx", "folder.csv", "no/t.csv", "t.parquet/x.csv", "ü/t.csv"]
    out = _pick(draw, "out" in broken, [None, None, "t.parquet", "t.csv", "ü.csv"], bad_outs)
    if out:
        argv += ["--out", str(out_dir / out)]
    return argv


class Overtime(BaseException):
    """Raised by the alarm: a BaseException, so no `except Exception` on the way swallows it."""


def _overtime(signum, frame):
    raise Overtime()


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz")
    (path / "folder.csv").mkdir()
    (path / "t.parquet").write_text("")  # a file where a folder is expected
    return path


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="the time budget uses SIGALRM")
def test_the_command_line_runs_or_refuses_in_one_line(out_dir):
    limits_before = limits.MAX_SESSION_EVENTS
    limits.MAX_SESSION_EVENTS = 50_000
    previous = signal.signal(signal.SIGALRM, _overtime)
    try:
        check_commands(out_dir)
    finally:
        limits.MAX_SESSION_EVENTS = limits_before
        signal.signal(signal.SIGALRM, previous)


def check_commands(out_dir):
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize="MIDSTREAM_FUZZ_EXAMPLES" not in os.environ,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(argv=commands(out_dir))
    def check(argv):
        stdout, stderr = io.StringIO(), io.StringIO()
        signal.alarm(SECONDS)
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                try:
                    code = main(argv)
                except SystemExit as e:  # argparse
                    code = e.code
        except Overtime:
            pytest.fail(f"over {SECONDS} s: {argv}")
        finally:
            signal.alarm(0)
        err = stderr.getvalue()
        event(f"exit {code}")
        assert "Traceback" not in err, (argv, err)
        if code == 2:
            lines = err.splitlines()
            assert len(lines) == 1 and ": error: " in lines[0], (argv, err)
        else:
            assert code == 0, (argv, code, err)
            assert stdout.getvalue().strip(), argv
            if argv[0] == "run":
                assert "SLO verdicts" in stdout.getvalue(), argv

    check()
