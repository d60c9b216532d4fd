"""`build_report`: run the scenarios, draw their figures, sweep, validate, render the PDF, write the
sidecar.

Which figures a scenario gets, and which stream or session a single-run figure shows, is decided
here; the figures themselves are `model.figures`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from model import __version__, figures, runner, stats
from model.config import apply_overrides
from model.outputs import check_writable, written_together
from model.report.narrative import _pct
from model.report.running import ScenarioRun, _overrides_list, run_scenario, validation_rows
from model.report.sections import _render
from model.scenarios import SCENARIOS, get_scenario
from model.simulation import session_record, stream_timeline

SWEEP_RATE_SCALES = (1, 2, 4, 8, 16, 32)
SWEEP_SESSIONS = 200
SWEEP_STRATEGIES = ("resume", "restart")
DEFAULT_OUT = Path("reports/reliability.pdf")

# the preferred scenario for each single-run figure (falls back to another included one)
TIMELINE_SCENARIO = "text-interruption"
MEMORY_SCENARIO = "stress"
CONDITIONS_SCENARIO = "network-degradation"
SWEEP_SCENARIO = "text-interruption"


def _first(preferred: str, runs: list[ScenarioRun], want) -> ScenarioRun | None:
    by_name = {r.name: r for r in runs}
    if preferred in by_name and want(by_name[preferred]):
        return by_name[preferred]
    return next((r for r in runs if want(r)), None)


def _member(run: ScenarioRun, stream: int):
    """Re-simulate the session holding `stream` (deterministic: the same rows as the table)."""
    return stream_timeline(run.cfg, run.provenance["seed"], stream)


def _scenario_figures(run: ScenarioRun) -> None:
    d, s, name = run.results.disconnects, run.results.streams, run.name
    if len(d):
        run.figures.append(("recovery", figures.recovery_cdf(d, run.cfg.slo, name)))
        run.figures.append(("attempts", figures.attempts_histogram(d)))
    run.figures.append(("outcomes", figures.error_breakdown(s)))


def _special_figures(runs: list[ScenarioRun]) -> None:
    single_with_disc = lambda r: r.cfg.session.streams == 1 and len(r.results.disconnects) > 0
    tl = _first(TIMELINE_SCENARIO, runs, single_with_disc)
    if tl is not None:
        sid = figures.pick_stream(tl.results.disconnects, 2, tl.results.streams)
        tl.figures.append(("timeline", figures.stream_timeline(_member(tl, sid), tl.cfg)))
    mem = _first(MEMORY_SCENARIO, runs, lambda r: r.cfg.session.streams > 1)
    if mem is not None:
        peaks = mem.results.streams.groupby("session").session_buffer_peak_bytes.first()
        worst = int(peaks.idxmax())
        session = session_record(mem.cfg, mem.provenance["seed"], worst)
        fig = figures.buffer_memory(session, mem.cfg.slo, mem.name)
        fig.caption += (
            f" Session {worst} is the one with the largest peak of the {len(peaks):,} simulated."
        )
        mem.figures.append(("memory", fig))
    cond = _first(CONDITIONS_SCENARIO, runs, single_with_disc)
    if cond is not None:
        sid = figures.pick_stream(cond.results.disconnects, 1, cond.results.streams, after=5.0)
        cond.figures.append(
            ("conditions", figures.conditions_throughput(_member(cond, sid), cond.cfg))
        )


def _sweep(
    run: ScenarioRun,
    sessions: int,
    seed: int,
    extra: list[str],
    workers,
    progress,
    at_once: int = 1,
    **where,
) -> dict:
    grid = {
        "disconnects.rate_scale": list(SWEEP_RATE_SCALES),
        "client.strategy": list(SWEEP_STRATEGIES),
    }
    res = runner.sweep(
        run.cfg, grid, sessions, seed, workers=workers, progress=progress, at_once=at_once, **where
    )
    fig = figures.completion_vs_disconnect_rate(
        res.streams, "disconnects.rate_scale", run.cfg, confidence=run.cfg.slo.confidence
    )
    s = res.streams
    s = s.assign(
        done=s.outcome == "completed",
        t=s.completion_time.astype(float) - s.start_time.astype(float),
    )
    rows = [
        [
            "rate_scale",
            "strategy",
            "completed",
            "median time (s)",
            "disconnects / stream",
            "failed / censored",
        ]
    ]
    order = {k: i for i, k in enumerate(SWEEP_STRATEGIES)}
    groups = sorted(
        s.groupby(["disconnects.rate_scale", "client.strategy"]),
        key=lambda kv: (kv[0][0], order[kv[0][1]]),
    )
    for (scale, strategy), g in groups:
        rows.append(
            [
                f"{scale:g}",
                strategy,
                _pct(g.done.mean()),
                f"{stats.quantile_interval(g.t[g.done].to_numpy(), 0.5)[0]:.1f}"
                if g.done.any()
                else "-",
                f"{g.disconnects.mean():.2f}",
                f"{int((g.outcome == 'failed').sum())} / {int((g.outcome == 'censored').sum())}",
            ]
        )
    sets = "".join(f" --set {o}" for o in extra)
    command = (
        f"midstream sweep {run.name} --streams {sessions} --seed {seed}{sets} --vary "
        "disconnects.rate_scale="
        + ",".join(f"{x:g}" for x in SWEEP_RATE_SCALES)
        + " --vary client.strategy="
        + ",".join(SWEEP_STRATEGIES)
    )
    return {
        "scenario": run.name,
        "scales": SWEEP_RATE_SCALES,
        "sessions": sessions,
        "figure": fig,
        "rows": rows,
        "command": command,
    }


def _workers_text(workers, executor) -> str | int:
    if isinstance(executor, str):
        return workers or "all cores"
    threads = sum(executor.nthreads().values())  # a Dask client
    return f"Dask cluster at {executor.scheduler.address}, {threads} worker threads"


@contextlib.contextmanager
def _pooled(executor, workers: int | None):
    """(executor, scenarios at once) for the simulations: where chunks go to worker processes
    here, one `SharedPool` for all of them, two scenarios (or sweep points) at a time, so that
    no core idles at the end of one or while this process judges it; else `executor`, one at a
    time. The tables are the same either way."""
    n = workers or os.cpu_count() or 1
    if executor != "process" or n < 2:
        yield executor, 1
        return
    with runner.SharedPool(n) as pool:
        yield pool, 2


def _where(executor, workdir, name: str) -> dict:
    return {"executor": executor, "workdir": None if workdir is None else Path(workdir) / name}


def build_report(
    scenarios: list[str] | None = None,
    streams: int | None = None,
    until_decided: bool = False,
    budget: int | None = None,
    seed: int = 0,
    out_path: str | Path = DEFAULT_OUT,
    workers: int | None = None,
    progress: bool = True,
    overrides: list[str] | dict | None = None,
    sweep: bool = True,
    sweep_streams: int | None = None,
    validate: bool = True,
    fidelity: Path | None = None,
    executor="process",
    workdir: str | Path | None = None,
    preset: str | None = None,
    remedies: bool = True,
    tilt: list[str] | None = None,
) -> Path:
    """Run the scenarios and write the PDF report to `out_path`; returns its path.

    scenarios: names (default: every scenario in the catalogue, in catalogue order).
    streams: a fixed number of sessions per scenario, as `midstream run --streams`.
    until_decided / budget: without `streams`, each scenario runs as `midstream run --demonstrate
        --budget B` (default) or, with `until_decided`, in doubling batches until its verdicts are
        decided, as `midstream run --until-decided --budget B`; B defaults to `default_budget`.
    overrides: `path=value` settings applied to every scenario after its own (e.g. a smaller
        `content.frames` for a quick look).
    sweep: add the resume-against-restart sweep (on text-interruption, or the first single-stream
        scenario), `sweep_streams` per point (default min(300, that scenario's sessions)).
    validate: run `model.validation` (quick sizes) for the appendix.
    fidelity: a `midstream calibrate --out` directory: adds "Fidelity against a real stack".
    executor: where chunks run (`runner.run`: "process", "serial" or a `distributed.Client`).
    workdir: checkpoint every run's chunks under it (one dataset per scenario, one per sweep
        point), so that a rerun after an interruption resumes where it stopped.
    preset: the name of the preset whose settings lead `overrides` (for the provenance only).
    remedies: add "What would make it pass" (a small `tune` for each scenario with a FAIL).
    tilt: importance sampling as `midstream run --tilt` ('auto' or weather settings): decides the
        rate verdicts crude Monte Carlo leaves open (`sequential.complete_by_importance`).
    """
    started = time.perf_counter()
    names = list(SCENARIOS) if scenarios is None else list(scenarios)
    if not names:
        raise ValueError("scenarios=[]: name at least one scenario")
    for name in names:
        get_scenario(name)  # unknown names fail before any simulation
    extra = _overrides_list(overrides)
    for name in names:
        apply_overrides(get_scenario(name), extra)  # bad overrides fail before any simulation
    if streams is not None and (not isinstance(streams, int) or streams < 1):
        raise ValueError(f"streams={streams!r}: a whole number >= 1, or None for the defaults")
    out = Path(out_path)
    if out.suffix.lower() != ".pdf":
        raise ValueError(f"out_path={str(out)!r}: the file name must end in .pdf")
    from model.calibrate import load_calibration

    calibration = load_calibration(fidelity) if fidelity is not None else None  # fail early
    check_writable([out, Path(f"{out}.json")])  # before any simulation
    out.parent.mkdir(parents=True, exist_ok=True)
    say = (lambda msg: tqdm.write(msg, file=sys.stderr)) if progress else (lambda msg: None)

    stages: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[stage] = round(now - clock, 2)
        clock = now

    def simulate_one(name: str) -> ScenarioRun:
        say(f"report: simulating {name}")
        where = _where(pool, workdir, name)
        return run_scenario(
            name, seed, streams, extra, until_decided, budget, workers, progress, tilt=tilt, **where
        )

    with _pooled(executor, workers) as (pool, at_once):
        runs = runner.each_at_once(simulate_one, names, at_once)
        lap("simulate")
        say("report: drawing figures")
        for r in runs:
            _scenario_figures(r)
        _special_figures(runs)
        lap("figures")
        sweep_info = None
        base = _first(SWEEP_SCENARIO, runs, lambda r: r.cfg.session.streams == 1)
        if sweep and base is not None:
            say(f"report: sweeping {base.name} (resume against restart)")
            n = sweep_streams or min(SWEEP_SESSIONS, base.sessions)
            where = _where(pool, workdir, "sweep")
            sweep_info = _sweep(base, n, seed, extra, workers, progress, at_once=at_once, **where)
        lap("sweep")
        found = []
        if remedies:
            from model.report.remedies import find_remedy

            for r in runs:
                if (r.verdicts.status == "FAIL").any():
                    say(f"report: what would make {r.name} pass")
                    found.append(find_remedy(r, seed, workers))
        lap("remedies")
        if validate:
            say("report: validation against theory")
        validation = _validation(validate, workers, pool)
        lap("validation")

    first = runs[0].provenance
    mode_text = (
        f"fixed: {streams:,} sessions per scenario"
        if streams
        else "until decided (doubling batches, Bonferroni looks)"
        if until_decided
        else "demonstration sizes (completion and recovery targets), within a session budget"
    )
    meta = {
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "overrides": extra,
        "mode_text": mode_text,
        "git_commit": first.get("git_commit"),
        "python": first.get("python", ""),
        "workers": _workers_text(workers, executor),
        "wall_seconds": 0.0,
        "stage_seconds": stages,
        "fidelity": fidelity and str(fidelity),
        "preset": preset,
    }
    meta["remedies"] = [_remedy_summary(r) for r in found]
    say(f"report: writing {out}")
    meta["wall_seconds"] = time.perf_counter() - started
    sidecar = Path(f"{out}.json")
    with written_together([out, sidecar]) as temps:  # both or neither, never half a PDF
        pages = _render(temps[out], runs, sweep_info, validation, meta, calibration, found)
        lap("render")
        _write_sidecar(temps[sidecar], runs, meta, pages, sweep_info)
    say(f"report: {out} ({pages} pages, {time.perf_counter() - started:.0f} s)")
    return out


def _validation(validate: bool, workers, pool) -> tuple:
    """The appendix's validation rows and note (on the report's `SharedPool`, if it has one)."""
    if not validate:
        return (
            None,
            "Validation against theory was not run for this report; run `midstream validate`.",
        )
    shared = pool if isinstance(pool, runner.SharedPool) else None
    return validation_rows(quick=True, workers=workers, pool=shared)


def _remedy_summary(r) -> dict:
    pick = r.best or r.closest
    return {
        "scenario": r.scenario,
        "failing": r.failing,
        "knobs": [k.path for k in r.knobs],
        "found": r.best is not None,
        "settings": pick.assignments() if pick else [],
        "cost": pick.cost if pick else None,
        "verdicts": pick.verdicts if pick else [],
        "seconds": round(r.seconds, 2),
        "command": r.command,
        "network_bound": [dataclasses.asdict(b) for b in r.network_bound],
    }


def _jsonable(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records"))


def _write_sidecar(path: Path, runs: list[ScenarioRun], meta: dict, pages: int, sweep_info) -> None:
    data = {
        **{k: v for k, v in meta.items()},
        "version": __version__,
        "pages": pages,
        "scenarios": {
            r.name: {
                "sessions": r.sessions,
                "streams": len(r.results.streams),
                "disconnects": len(r.results.disconnects),
                "mode": r.mode,
                "budget": r.budget,
                "seconds": round(r.seconds, 2),
                "command": r.command,
                "provenance": r.provenance,
                "verdicts": _jsonable(r.verdicts),
            }
            for r in runs
        },
        "sweep": None
        if sweep_info is None
        else {
            "scenario": sweep_info["scenario"],
            "sessions": sweep_info["sessions"],
            "command": sweep_info["command"],
        },
    }
    Path(path).write_text(json.dumps(data, indent=2, default=str) + "\n")
