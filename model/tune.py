"""`tune`: the cheapest settings that make every SLO verdict PASS.

The search: Optuna's TPE sampler with constraints (a candidate is feasible when its constraint
value is <= 0), one candidate at a time. Each candidate runs as `midstream run --until-decided
--budget B` runs (`sequential.run_sized`), with the tune's seed for every candidate (common random
numbers: two candidates differ by their settings, not by their luck), and stops early at the first
look with a FAIL, which rules it out. A candidate is feasible when every verdict is PASS (or N/A:
nothing to judge); an INCONCLUSIVE one is infeasible, so a PASS in `tune` means what it means in the
report.

Costs come from the candidate's simulated tables (`COSTS`), or from its settings (any numeric dotted
path, e.g. `server.retention`); `--cost` combines them with + - * / and numbers (`CostExpr`, parsed
from Python's expression grammar but evaluated here on the named costs only: nothing is `eval`ed).

Reproducible and resumable: the sampler is seeded afresh for trial n from (seed, n), and every
finished trial is appended to a journal (JSON lines); a rerun with the same journal replays the
finished trials into the study and carries on, choosing exactly what an uninterrupted run would.
"""

from __future__ import annotations

import ast
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from model.config import ConfigError, Scenario, apply_overrides, settable_paths

if TYPE_CHECKING:  # numpy, pandas and the runner load when a search runs, not with the CLI
    import pandas as pd

    from model.simulation import Results

DEFAULT_TRIALS = 12
DEFAULT_BUDGET = 32_000  # sessions per candidate: enough to PASS 99.95 % and 99.9 % targets
FEASIBLE = ("PASS", "N/A")


# ---------------------------------------------------------------- knobs


@dataclass(frozen=True)
class Knob:
    """A setting to vary between `lo` and `hi` (whole numbers if the setting is; on a log scale when
    the range spans a factor of 10 or more and starts above 0)."""

    path: str
    lo: float
    hi: float
    integer: bool = False

    @property
    def log(self) -> bool:
        return self.lo > 0 and self.hi / self.lo >= 10

    def distribution(self):
        import optuna

        if self.integer:
            return optuna.distributions.IntDistribution(int(self.lo), int(self.hi), log=self.log)
        return optuna.distributions.FloatDistribution(self.lo, self.hi, log=self.log)


def parse_knob(text: str, cfg: Scenario) -> Knob:
    """`PATH=LO..HI` for a numeric setting of `cfg`; both ends must be allowed values."""
    path, eq, rng = text.partition("=")
    lo_text, dots, hi_text = rng.partition("..")
    path = path.strip()
    if not eq or not dots or not path:
        raise ConfigError("--vary", text, "expected dotted.path=LO..HI")
    value = {s.path: s.value for s in settable_paths(cfg)}.get(path)
    if value is None:
        apply_overrides(cfg, {path: lo_text})  # names the nearest paths
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError("--vary", text, f"{path} is not a number; tune varies numeric settings")
    try:
        lo, hi = float(lo_text), float(hi_text)
    except ValueError:
        raise ConfigError("--vary", text, "LO and HI must be numbers") from None
    if not lo < hi:
        raise ConfigError("--vary", text, "LO must be below HI")
    for end in (lo, hi):
        apply_overrides(cfg, {path: int(end) if isinstance(value, int) else end})  # range check
    return Knob(path, lo, hi, integer=isinstance(value, int))


# ---------------------------------------------------------------- costs


def _p99(x) -> float:
    """The nearest-rank 99th percentile, NaN (never happened) counting as +inf; 0 if empty."""
    import numpy as np

    x = np.sort(np.where(np.isnan(np.asarray(x, dtype=float)), np.inf, x))
    return float(x[math.ceil(0.99 * len(x)) - 1]) if len(x) else 0.0


def _stream_minutes(s: pd.DataFrame) -> float:
    return float((s.end_time - s.start_time).sum()) / 60


def _pings_per_minute(res: Results, cfg: Scenario) -> float:
    connected = (res.streams.time_streaming + res.streams.time_resuming).sum()
    minutes = _stream_minutes(res.streams)
    return float(connected / cfg.client.ping_interval / minutes) if minutes else 0.0


def _reconnects_per_minute(res: Results, cfg: Scenario) -> float:
    minutes = _stream_minutes(res.streams)
    return float(res.streams.reconnect_attempts.sum() / minutes) if minutes else 0.0


@dataclass(frozen=True)
class Cost:
    unit: str
    doc: str
    of: Callable[[Results, Scenario], float]


COSTS: dict[str, Cost] = {
    "buffer_p99": Cost(
        "B",
        "p99 of the streams' replay-buffer peaks (buffer_peak_bytes)",
        lambda r, c: _p99(r.streams.buffer_peak_bytes),
    ),
    "session_buffer_p99": Cost(
        "B",
        "p99 of the sessions' replay-buffer peaks (session_buffer_peak_bytes)",
        lambda r, c: _p99(r.streams.groupby("session").session_buffer_peak_bytes.first()),
    ),
    "buffer_mean": Cost(
        "B",
        "mean replay-buffer peak per stream",
        lambda r, c: float(r.streams.buffer_peak_bytes.mean()),
    ),
    "pings_per_minute": Cost(
        "1/min",
        "heartbeat pings per minute of stream life (connected time / ping_interval)",
        _pings_per_minute,
    ),
    "reconnects_per_minute": Cost(
        "1/min",
        "connection attempts per minute of stream life (reconnect_attempts): load on the server",
        _reconnects_per_minute,
    ),
    "attempts_per_outage": Cost(
        "count",
        "mean connection attempts per disconnect (the disconnect table's attempts)",
        lambda r, c: float(r.disconnects.attempts.mean()) if len(r.disconnects) else 0.0,
    ),
    "replayed_bytes": Cost(
        "B",
        "mean bytes sent again per stream (bytes_replayed)",
        lambda r, c: float(r.streams.bytes_replayed.mean()),
    ),
    "recovery_p99": Cost(
        "s",
        "p99 break-to-recovered time (never recovered: inf)",
        lambda r, c: _p99(r.disconnects.recovery_time),
    ),
    "reconnect_p99": Cost(
        "s",
        "p99 break-to-connected time (never: inf)",
        lambda r, c: _p99(r.disconnects.reconnect_time),
    ),
}

_OPS = {ast.Add: float.__add__, ast.Sub: float.__sub__, ast.Mult: float.__mul__}


class CostExpr:
    """A cost: names from `COSTS` or numeric dotted settings, numbers, + - * / and brackets,
    e.g. `pings_per_minute + 2 * reconnects_per_minute + buffer_p99 / 1e6`."""

    def __init__(self, text: str, cfg: Scenario):
        self.text = text
        numeric = {s.path for s in settable_paths(cfg) if _is_number(s.value)}
        try:
            self.tree = ast.parse(text.strip(), mode="eval").body
        except SyntaxError:
            raise ConfigError("--cost", text, "an expression of " + self.vocabulary()) from None
        self.names = sorted(set(self._names(self.tree)))
        for name in self.names:
            if name not in COSTS and name not in numeric:
                raise ConfigError("--cost", text, f"{name!r} is unknown; " + self.vocabulary())

    @staticmethod
    def vocabulary() -> str:
        return "numbers, + - * / ( ) and the costs " + ", ".join(COSTS) + " or numeric settings"

    def _names(self, node) -> list[str]:
        if isinstance(node, ast.BinOp) and type(node.op) in (*_OPS, ast.Div):
            return self._names(node.left) + self._names(node.right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            return self._names(node.operand)
        if isinstance(node, ast.Constant) and _is_number(node.value):
            return []
        dotted = _dotted(node)
        if dotted is None:
            raise ConfigError("--cost", self.text, "only " + self.vocabulary())
        return [dotted]

    def terms(self, res: Results, cfg: Scenario) -> dict[str, float]:
        """Every named cost of the vocabulary, plus the settings the expression names."""
        values = {name: float(c.of(res, cfg)) for name, c in COSTS.items()}
        settings = {s.path: s.value for s in settable_paths(cfg)}
        values.update({n: float(settings[n]) for n in self.names if n not in COSTS})
        return values

    def value(self, terms: dict[str, float]) -> float:
        return self._eval(self.tree, terms)

    def _eval(self, node, terms) -> float:
        if isinstance(node, ast.BinOp):
            a, b = self._eval(node.left, terms), self._eval(node.right, terms)
            return a / b if isinstance(node.op, ast.Div) else _OPS[type(node.op)](a, b)
        if isinstance(node, ast.UnaryOp):
            v = self._eval(node.operand, terms)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Constant):
            return float(node.value)
        return terms[_dotted(node)]


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


# ---------------------------------------------------------------- one candidate


@dataclass
class Trial:
    number: int
    params: dict
    cost: float
    feasible: bool
    constraint: float  # verdicts that are not PASS (or N/A); <= 0 is feasible
    sessions: int
    seconds: float
    terms: dict = field(default_factory=dict)
    verdicts: list = field(default_factory=list)  # [{slo, status, estimate, lower, upper, n}]

    def assignments(self) -> list[str]:
        return [f"{k}={_num(v)}" for k, v in self.params.items()]


def _num(v) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:.6g}"


def stop_at_fail(table: pd.DataFrame) -> bool:
    """End a candidate's run when every verdict is decided or one FAILs (it is then infeasible)."""
    from model import slo

    return slo.decided(table) or bool((table.status == "FAIL").any())


def judge(
    cfg: Scenario,
    params: dict,
    cost: CostExpr,
    seed: int,
    budget: int,
    workers: int | None = None,
    number: int = 0,
    must_pass: frozenset[str] | None = None,
) -> Trial:
    """Run one candidate until decided (or its first FAIL) and price it.

    must_pass: None: every verdict must PASS (or be N/A). A set of SLO names: those must PASS and
    none may FAIL (the report's "what would make it pass", where the others may stay undecided)."""
    from model.sequential import RunSize, run_sized

    started = time.perf_counter()
    c = apply_overrides(cfg, {k: _num(v) for k, v in params.items()})
    res, table = run_sized(c, RunSize("until-decided", budget), seed, workers, False, stop_at_fail)
    status = dict(zip(table.slo, table.status))
    if must_pass is None:
        short = sum(s not in FEASIBLE for s in status.values())
    else:
        short = sum(status.get(n) != "PASS" for n in must_pass)
        short += sum(s == "FAIL" for n, s in status.items() if n not in must_pass)
    terms = cost.terms(res, c)
    value = cost.value(terms)
    return Trial(
        number=number,
        params=dict(params),
        cost=value if math.isfinite(value) else 1e300,
        feasible=short == 0,
        constraint=float(short),
        sessions=int(res.streams.session.nunique()),
        seconds=round(time.perf_counter() - started, 2),
        terms=terms,
        verdicts=json.loads(
            table[["slo", "status", "estimate", "lower", "upper", "n"]].to_json(orient="records")
        ),
    )


# ---------------------------------------------------------------- the search


@dataclass
class Tuning:
    header: dict
    trials: list[Trial]

    def feasible(self) -> list[Trial]:
        return sorted((t for t in self.trials if t.feasible), key=lambda t: (t.cost, t.number))

    @property
    def best(self) -> Trial | None:
        ok = self.feasible()
        return ok[0] if ok else None

    def table(self) -> pd.DataFrame:
        import pandas as pd

        rows = [
            {"trial": t.number, **t.params, "cost": t.cost, "feasible": t.feasible,
             "not_passing": int(t.constraint), "sessions": t.sessions, "seconds": t.seconds,
             **{f"cost:{k}": v for k, v in t.terms.items()}}
            for t in self.trials
        ]  # fmt: skip
        return pd.DataFrame(rows)


class JournalMismatch(ConfigError):
    def __init__(self, path: Path):
        ConfigError.__init__(
            self,
            "--out",
            str(path),
            "it holds a different tune (scenario, knobs, cost, seed or "
            "budget); use another folder or delete it",
        )


def tune(
    cfg: Scenario,
    knobs: list[Knob],
    cost: CostExpr,
    trials: int = DEFAULT_TRIALS,
    seed: int = 0,
    budget: int = DEFAULT_BUDGET,
    workers: int | None = None,
    journal: Path | None = None,
    must_pass: frozenset[str] | None = None,
    on_trial: Callable[[Trial], None] | None = None,
) -> Tuning:
    """Search `knobs` for the least `cost` with every verdict PASS; `trials` candidates in all
    (those already in `journal` count). The journal (JSON lines: a header, then one trial a line)
    makes a rerun resume where an interrupted one stopped."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    header = {
        "scenario": cfg.name,
        "config": _config_digest(cfg),
        "knobs": [asdict(k) for k in knobs],
        "cost": cost.text,
        "seed": seed,
        "budget": budget,
        "must_pass": sorted(must_pass) if must_pass is not None else None,
    }
    done = _read_journal(journal, header)
    distributions = {k.path: k.distribution() for k in knobs}
    study = optuna.create_study(direction="minimize")
    for t in done:  # replay: the sampler sees exactly the history an uninterrupted run saw
        _record(study, t, distributions)
    while len(done) < trials:
        n = len(done)
        study.sampler = optuna.samplers.TPESampler(
            seed=_trial_seed(seed, n),
            n_startup_trials=max(3, trials // 3),
        )
        asked = study.ask(distributions)
        t = judge(cfg, asked.params, cost, seed, budget, workers, n, must_pass)
        _tell(study, asked, t)
        done.append(t)
        if journal is not None:
            _append(journal, header if n == 0 and not journal.exists() else None, t)
        if on_trial:
            on_trial(t)
    return Tuning(header, done)


def _trial_seed(seed: int, n: int) -> int:
    """The sampler's seed for trial n: hashed from (seed, n), since consecutive integer seeds give
    correlated first draws."""
    import numpy as np

    return int(np.random.SeedSequence([seed, n]).generate_state(1)[0])


def _record(study, t: Trial, distributions) -> None:
    study.enqueue_trial(t.params)
    _tell(study, study.ask(distributions), t)


def _tell(study, asked, t: Trial) -> None:
    asked.set_constraint("not_passing", t.constraint)  # TPE prefers feasible trials (<= 0)
    study.tell(asked, t.cost)


def _config_digest(cfg: Scenario) -> str:
    import hashlib

    text = json.dumps(asdict(cfg), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_journal(path: Path | None, header: dict) -> list[Trial]:
    if path is None or not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not lines or lines[0] != json.loads(json.dumps(header)):
        raise JournalMismatch(path)
    return [Trial(**d) for d in lines[1:]]


def _append(path: Path, header: dict | None, t: Trial) -> None:
    """One trial a line, flushed: an interruption loses at most the trial under way."""
    with path.open("a") as f:
        if header is not None:
            f.write(json.dumps(header) + "\n")
        f.write(json.dumps(asdict(t), default=float) + "\n")
        f.flush()


def pareto(trials: list[Trial], axis: str) -> list[Trial]:
    """The feasible trials no other feasible one beats on both the cost and `axis` (a cost name)."""
    ok = sorted((t for t in trials if t.feasible), key=lambda t: (t.cost, t.terms[axis]))
    front, best = [], math.inf
    for t in ok:
        if t.terms[axis] < best:
            front.append(t)
            best = t.terms[axis]
    return front
