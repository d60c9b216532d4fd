"""What would make it pass: for each scenario with a FAIL, a small `tune` over the settings that
move the failing measures, for the cheapest change that clears them.

Kept cheap on purpose: `TRIALS` candidates of at most `SESSIONS` sessions each (never more than the
scenario's own run), judged as `midstream run --until-decided` judges them and stopped at the first
FAIL. At that size a tight rate target (99.95 % completion) cannot PASS, only stop failing, so a
remedy asks that every failing quantile target (latency, memory) PASS and that no verdict FAIL; the
section says so, and gives the `midstream tune` command for a full search.

No search where the network itself rules a failing target out: reconnect and recovery times run
from the break, and nobody connects while the network is unreachable, so a disconnect takes at
least as long as the outage left after its break (the disconnect table's `outage_left`). When more
of the run's disconnects than the quantile allows have that floor above the target (at the
verdicts' confidence), no client or server setting can meet it, short of adding enough
fast-recovering disconnects to dilute it; the section says so and what the outages allow instead.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from model.report.running import ScenarioRun
from model.tune import CostExpr, Knob, Trial, tune

TRIALS = 4
SESSIONS = 4000  # at most this many sessions per candidate ...
STREAMS = 4000  # ... or this many streams' worth for multi-stream scenarios
COST = "pings_per_minute + reconnects_per_minute + session_buffer_p99 / 1e6"
COST_TEXT = (
    "heartbeat pings per minute + connection attempts per minute (server load) + the p99 of the "
    "session's replay-buffer peak in MB"
)
LATENCY = ("client.backoff.first_delay", "client.backoff.base", "client.ping_timeout")
GIVE_UP = ("client.backoff.max_attempts", "client.backoff.deadline", "server.retention")
KNOBS = {  # failing SLO -> the settings that move it
    "reconnect_time": LATENCY,
    "resume_time": LATENCY,
    "recovery_time": LATENCY,
    "completion_rate": GIVE_UP,
    "recovery_rate": GIVE_UP,
    "timeout_handling_rate": ("server.retention",),
    "buffer_bytes": ("server.buffer_bytes", "server.retention"),
}
MAX_KNOBS = 3
FLOORED = ("reconnect_time", "recovery_time")  # measured from the break: an outage delays them


@dataclass(frozen=True)
class NetworkBound:
    """A failing latency target the network rules out: `share` of the `disconnects` (at least
    `lower` at `confidence`) had an outage outlasting `target` after the break, more than the
    `allowed` share (1 - quantile); `floor` is the quantile of those outages alone."""

    slo: str
    target: float
    allowed: float
    confidence: float
    disconnects: int
    share: float
    lower: float
    floor: float


@dataclass
class Remedy:
    scenario: str
    failing: list[str]
    knobs: list[Knob]
    sessions: int
    baseline_cost: float
    best: Trial | None
    closest: Trial | None
    seconds: float
    command: str
    network_bound: list[NetworkBound] = field(default_factory=list)  # why nothing was searched


def _range(path: str, value: float) -> tuple[float, float] | None:
    """Where to look: shorter waits for the latency knobs, longer patience for the give-up ones,
    smaller or shorter-lived buffers for memory."""
    if path == "client.ping_timeout":  # below about a second, loss alone trips the heartbeat
        return (1.0, max(value, 2.0))
    if path in LATENCY:
        return (0.0 if path.endswith("first_delay") else 0.05, max(value, 1.0))
    if path in GIVE_UP and path != "server.retention":
        return (value, 4 * value) if value > 0 and value < 1e5 else None
    if path == "server.retention":
        return (max(1.0, value / 4), max(4 * value, 10.0))
    if path == "server.buffer_bytes":
        return (min(10_000, value), value) if value > 10_000 else None
    return None


def remedy_knobs(run: ScenarioRun, failing: list[str]) -> list[Knob]:
    from model.config import settable_paths

    values = {s.path: s.value for s in settable_paths(run.cfg)}
    knobs: dict[str, Knob] = {}
    for name in failing:
        for path in KNOBS.get(_measure(name), ()):
            span = _range(path, float(values[path]))
            if span and span[0] < span[1] and path not in knobs and len(knobs) < MAX_KNOBS:
                integer = isinstance(values[path], int)
                lo, hi = (int(span[0]), int(span[1])) if integer else span
                knobs[path] = Knob(path, lo, hi, integer)
    return list(knobs.values())


def _budget(run: ScenarioRun, failing: list[str]) -> int:
    """Sessions per candidate: enough disconnects for a failing latency quantile to PASS at the
    two looks' confidence (with 20 % to spare), at most the scenario's own run and the caps."""
    from model import stats

    cap = max(1, min(run.sessions, SESSIONS, STREAMS // run.cfg.session.streams))
    per_session = len(run.results.disconnects) / run.sessions
    if not per_session or all(n.endswith("_rate") for n in failing):
        return cap
    c = run.cfg.slo
    need = stats.zero_failure_sample_size(c.quantile, 1 - (1 - c.confidence) / 2)
    return max(1, min(cap, math.ceil(1.2 * need / per_session)))


def _measure(slo_name: str) -> str:
    return slo_name.split(" ", 1)[-1]  # "p99 reconnect_time" -> "reconnect_time"


def network_bounds(run: ScenarioRun, failing: list[str]) -> list[NetworkBound]:
    """The failing latency targets the network rules out (none for a weighted run: its tilted
    weather is not the scenario's)."""
    from model import stats

    c, streams = run.cfg.slo, run.results.streams
    floored = [n for n in failing if _measure(n) in FLOORED]
    if not floored or not len(run.results.disconnects) or (streams.weight != 1).any():
        return []
    floor = run.results.disconnects.outage_left.to_numpy(float)
    allowed, out = 1 - c.quantile, []
    for name in floored:
        target = float(getattr(c, _measure(name)))
        over = int((floor > target).sum())
        lower, _ = stats.clopper_pearson_interval(over, len(floor), 2 * c.confidence - 1)
        if lower > allowed:  # more than the target allows, beyond doubt
            floor_q = float(np.quantile(floor, c.quantile))
            share = over / len(floor)
            out.append(
                NetworkBound(name, target, allowed, c.confidence, len(floor), share, lower, floor_q)
            )
    return out


def find_remedy(
    run: ScenarioRun, seed: int, workers: int | None = None, trials: int = TRIALS
) -> Remedy | None:
    """The cheapest change found for `run`'s FAILs (None when it has none)."""
    failing = list(run.verdicts.slo[run.verdicts.status == "FAIL"])
    if not failing:
        return None
    started = time.perf_counter()
    bound = network_bounds(run, failing)
    knobs = remedy_knobs(run, failing) if not bound else []
    cost = CostExpr(COST, run.cfg)
    budget = _budget(run, failing) if not bound else 0
    best = closest = None
    if knobs:
        must_pass = frozenset(n for n in failing if not n.endswith("_rate"))
        result = tune(run.cfg, knobs, cost, trials, seed, budget, workers, must_pass=must_pass)
        best = result.best
        closest = min(result.trials, key=lambda t: (t.constraint, t.cost))
    sets = "".join(f" --set {o}" for o in run.provenance.get("overrides", []))
    sets += "".join(f" --vary {k.path}={k.lo:g}..{k.hi:g}" for k in knobs)
    return Remedy(
        scenario=run.name,
        failing=failing,
        knobs=knobs,
        sessions=budget,
        baseline_cost=cost.value(cost.terms(run.results, run.cfg)),
        best=best,
        closest=closest,
        seconds=time.perf_counter() - started,
        command=f"midstream tune {run.name}{sets} --cost '{COST}' --seed {seed}",
        network_bound=bound,
    )
